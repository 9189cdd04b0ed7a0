"""Per-vehicle 24 h charging efficiency: the refresh that maintains it, and the read that serves it.

docs/DESIGN.md's rule, per UTC minute: a (meter, minute) counts for a vehicle when that vehicle
is the only one that reported the meter in that minute and the meter itself reported in it
(contributions.RECOMPUTE). History holds each reading once, so a redelivery doubles nothing.

The refresh scales with what arrived, not with history. Workers list the minutes they wrote to
(dirty_minutes); the refresh recomputes only those minutes from history into
vehicle_minute_contributions, and moves the running 24 h sums in vehicle_efficiency_24h by the
difference, and by the minutes that entered or left the window; the hourly rollups of sealed
hours move by the same differences, and an hour the window has passed is sealed
(efficiency/rollups.py). The sums are exact numerics and integers, so adding and subtracting
never drifts from a full recomputation.

The window is the 1,440 whole minutes before as_of: [floor(as_of) - 24 h, floor(as_of)). The
minute in progress is left out until it is complete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import Connection, Engine, text

from efficiency import contributions, meters, rollups, sessions
from efficiency.formula import SUMMED, sums
from settings import get_settings
from storage import db

WINDOW = timedelta(hours=24)
_MINUTE = timedelta(minutes=1)
Range = tuple[datetime, datetime]
# Advisory lock key (storage/db.transaction_lock): one refresh at a time across every host.
_LOCK_KEY = 0x45565F52  # "EV_R"

# Minutes are recomputed in runs of consecutive minutes, at most this many at a time: a run is
# one range scan, and its aggregates stay in memory (contributions.WORK_MEM) where a whole day's
# would spill to disk.
CHUNK_MINUTES = 15

_COLUMNS = ", ".join(SUMMED)
_CONTRIBUTION = ", ".join(contributions.COLUMNS)

_CLAIM_DIRTY = f"""
DROP TABLE IF EXISTS pending_minutes, new_contributions, deltas, hourly_deltas;
CREATE TEMP TABLE pending_minutes (minute timestamptz PRIMARY KEY) ON COMMIT DROP;
CREATE TEMP TABLE new_contributions ON COMMIT DROP
    AS SELECT {_CONTRIBUTION} FROM {contributions.TABLE} WITH NO DATA;
WITH claimed AS (DELETE FROM dirty_minutes RETURNING minute)
INSERT INTO pending_minutes SELECT DISTINCT minute FROM claimed;
{sessions.DELTAS};
{rollups.DELTAS}
"""

_ALL_WINDOW_MINUTES = """
INSERT INTO pending_minutes
SELECT generate_series(:start, :end - interval '1 minute', interval '1 minute')
ON CONFLICT DO NOTHING
"""

# Emptied, not dropped and made again: every object dropped in a transaction keeps its lock to
# the end, and a day of runs would run out of PostgreSQL's shared lock table.
_NEXT_CHUNK = "TRUNCATE new_contributions"

_RECOMPUTE = f"INSERT INTO new_contributions {contributions.RECOMPUTE}"

# Per contribution counted in or out: its vehicle's minutes (`minutes`) and its meter's (one).
_DELTAS = f"""
CREATE TEMP TABLE deltas ON COMMIT DROP
    AS SELECT vehicle_id, meter_id, {_COLUMNS}, minutes, 1 AS meter_minutes
    FROM {contributions.TABLE} WITH NO DATA
"""

# A minute's contribution counted in, or out, of the running sums.
_PLUS = f"vehicle_id, meter_id, {_COLUMNS}, minutes, 1"
_MINUS = f"vehicle_id, meter_id, {', '.join(f'-{c}' for c in (*SUMMED, 'minutes'))}, -1"

# Recomputed minutes already inside the window the sums describe: take the old value out and
# put the new one in.
_DIRTY_DELTAS = f"""
INSERT INTO deltas
SELECT {_PLUS} FROM new_contributions WHERE minute >= :old_start AND minute < :old_end
UNION ALL
SELECT {_MINUS} FROM vehicle_minute_contributions c
WHERE c.minute >= :lo AND c.minute < :hi
  AND c.minute >= :old_start AND c.minute < :old_end
"""

# Every recomputed minute, for the sessions' sums (sessions.apply_deltas).
_SESSION_DELTAS = f"""
INSERT INTO session_deltas
SELECT {sessions.NEW_DELTA} FROM new_contributions
UNION ALL
SELECT {sessions.OLD_DELTA} FROM vehicle_minute_contributions WHERE minute >= :lo AND minute < :hi
"""

_REPLACE_CONTRIBUTIONS = f"""
DELETE FROM vehicle_minute_contributions WHERE minute >= :lo AND minute < :hi;
INSERT INTO vehicle_minute_contributions ({_CONTRIBUTION})
SELECT {_CONTRIBUTION} FROM new_contributions;
"""

# Minutes that entered the window count in, minutes that left it count out.
# One plain range each, so it is an index range scan over those minutes only: a condition like
# "in the new window and not in the old" reads the whole window.
_ENTERED = f"""
INSERT INTO deltas SELECT {_PLUS} FROM vehicle_minute_contributions
WHERE minute >= :lo AND minute < :hi
"""
_LEFT = f"""
INSERT INTO deltas SELECT {_MINUS} FROM vehicle_minute_contributions
WHERE minute >= :lo AND minute < :hi
"""

_APPLY_DELTAS = f"""
INSERT INTO vehicle_efficiency_24h AS p (vehicle_id, {_COLUMNS}, minutes)
SELECT vehicle_id, {sums()}, sum(minutes) FROM deltas GROUP BY vehicle_id
ON CONFLICT (vehicle_id) DO UPDATE SET
    {", ".join(f"{c} = p.{c} + EXCLUDED.{c}" for c in (*SUMMED, "minutes"))};
DELETE FROM vehicle_efficiency_24h
WHERE minutes <= 0 AND vehicle_id IN (SELECT vehicle_id FROM deltas);
{meters.APPLY_DELTAS}
"""

_REBUILD = f"""
DELETE FROM vehicle_efficiency_24h;
INSERT INTO vehicle_efficiency_24h (vehicle_id, {_COLUMNS}, minutes)
SELECT vehicle_id, {sums()}, sum(minutes) FROM vehicle_minute_contributions
WHERE minute >= :new_start AND minute < :new_end
GROUP BY vehicle_id;
{meters.REBUILD}
"""

_SAVE_WINDOW = """
INSERT INTO efficiency_window (id, window_start, window_end, refreshed_at)
VALUES (1, :new_start, :new_end, now())
ON CONFLICT (id) DO UPDATE SET window_start = EXCLUDED.window_start,
    window_end = EXCLUDED.window_end, refreshed_at = EXCLUDED.refreshed_at
"""

_READ = f"""
SELECT p.vehicle_id, {", ".join(f"p.{c}" for c in SUMMED)}, p.minutes,
       w.window_start, w.window_end, w.refreshed_at
FROM vehicle_efficiency_24h p CROSS JOIN efficiency_window w
WHERE p.vehicle_id = $1
"""


@dataclass
class RefreshResult:
    window_start: datetime
    window_end: datetime
    # "incremental": the sums moved by differences; "rebuild": summed afresh from contributions.
    mode: str
    recomputed_minutes: int
    vehicles: int
    seconds: float


def window_for(as_of: datetime) -> tuple[datetime, datetime]:
    end = as_of.astimezone(UTC).replace(second=0, microsecond=0)
    return end - WINDOW, end


def refresh(
    conn: Connection,
    as_of: datetime,
    *,
    full: bool = False,
    wait: bool = True,
    engine: Engine | None = None,
    session_gap: timedelta | None = None,
    builders: int = contributions.BUILDERS,
) -> RefreshResult | None:
    """Bring vehicle_efficiency_24h to the window ending at as_of, in the caller's transaction.

    full=True recomputes every minute of the window from history (a repair after a rule or
    schema change); otherwise only the minutes that received readings are recomputed. With
    full=True and an engine, the window's day partitions are rebuilt on `builders` connections
    of the engine at once, and swapped in (contributions.rebuild_window): what a day of fleet
    history needs. With wait=False, returns None at once when another refresh holds the lock.
    """
    started = time.monotonic()
    if not db.transaction_lock(conn, _LOCK_KEY, wait=wait):
        return None
    new_start, new_end = window_for(as_of)
    old = conn.execute(
        text("SELECT window_start, window_end, hours_through FROM efficiency_window")
    ).first()
    # Where the sealed hourly rollups end: recomputed minutes before it move them.
    sealed = old.hours_through if old is not None else None

    _run(conn, _CLAIM_DIRTY)
    pending = text("SELECT minute FROM pending_minutes ORDER BY 1")
    minutes = arrived = conn.execute(pending).scalars().all()
    if full:
        conn.execute(text(_ALL_WINDOW_MINUTES), {"start": new_start, "end": new_end})
        minutes = conn.execute(pending).scalars().all()
    _run(conn, _DELTAS)
    bounds = {"new_start": new_start, "new_end": new_end}
    if not full and old is not None and old.window_start < new_end and new_start < old.window_end:
        bounds |= {"old_start": old.window_start, "old_end": old.window_end}
    incremental = "old_start" in bounds
    in_place, rebuilt = minutes, False
    if full and engine is not None:
        rebuilt = contributions.rebuild_window(
            conn, engine, new_start, new_end, CHUNK_MINUTES, builders
        )
        if rebuilt:
            in_place = [m for m in minutes if not new_start <= m < new_end]
    conn.execute(text(contributions.WORK_MEM))
    for lo, hi in contributions.runs(in_place, CHUNK_MINUTES):
        conn.execute(text(_NEXT_CHUNK))
        conn.execute(text(_RECOMPUTE), {"lo": lo, "hi": hi})
        if incremental:
            conn.execute(text(_DIRTY_DELTAS), bounds | {"lo": lo, "hi": hi})
        conn.execute(text(_SESSION_DELTAS), {"lo": lo, "hi": hi})
        if sealed is not None and lo < sealed:
            conn.execute(text(rollups.RUN_DELTAS), {"lo": lo, "hi": hi, "through": sealed})
        _run(conn, _REPLACE_CONTRIBUTIONS, {"lo": lo, "hi": hi})
    if incremental:
        now_: Range = (new_start, new_end)
        before: Range = (bounds["old_start"], bounds["old_end"])
        for statement, (lo, hi) in [(_ENTERED, r) for r in _outside(now_, before)] + [
            (_LEFT, r) for r in _outside(before, now_)
        ]:
            conn.execute(text(statement), {"lo": lo, "hi": hi})
        _run(conn, _APPLY_DELTAS)
        mode = "incremental"
    elif rebuilt:
        _run(conn, meters.FROM_WINDOW_PAIRS)
        mode = "rebuild"
    else:
        _run(conn, _REBUILD, bounds)
        mode = "rebuild"
    # Sessions grow from the readings that arrived, whatever window the figures are for.
    for lo, hi in contributions.runs(arrived, CHUNK_MINUTES):
        gap = session_gap or timedelta(seconds=get_settings().session_gap_seconds)
        sessions.update(conn, lo, hi, gap)
    sessions.apply_deltas(conn)
    _run(conn, rollups.APPLY_DELTAS)
    if rebuilt:
        sessions.resum(conn, new_start, new_end)
    conn.execute(text(_SAVE_WINDOW), bounds)
    # Every hour before the one the window ends in is past: its minutes are recomputed above.
    # A rebuild summed its days' hours already, from their first.
    rebuilt_since = datetime.combine(new_start.date(), dtime(), UTC) if rebuilt else None
    rollups.seal(conn, sealed, new_end.replace(minute=0), rebuilt_since)
    vehicles = conn.execute(text("SELECT count(*) FROM vehicle_efficiency_24h")).scalar_one()
    return RefreshResult(
        new_start, new_end, mode, len(minutes), vehicles, time.monotonic() - started
    )


def seal_rollups(conn: Connection, before: datetime) -> None:
    """Seal the hours before `before` (on the hour) if the refresh has not: before their minutes'
    partitions are dropped, say. Under the refresh's lock, taken only when there is work:
    nothing before the first refresh, which made the first minutes."""
    window = conn.execute(text("SELECT hours_through FROM efficiency_window")).first()
    if window is None or (window.hours_through is not None and window.hours_through >= before):
        return
    db.transaction_lock(conn, _LOCK_KEY)
    # Read again under the lock: a refresh may have sealed them meanwhile.
    through = conn.execute(text("SELECT hours_through FROM efficiency_window")).scalar()
    rollups.seal(conn, through, before)


def _outside(a: Range, b: Range) -> list[Range]:
    """The parts of range a that are not in range b."""
    parts = []
    if a[0] < min(a[1], b[0]):
        parts.append((a[0], min(a[1], b[0])))
    if max(a[0], b[1]) < a[1]:
        parts.append((max(a[0], b[1]), a[1]))
    return parts


def _run(conn: Connection, script: str, params: dict[str, Any] | None = None) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(text(statement), params or {})


def read(conn: Connection, vehicle_id: str) -> Any:
    """The vehicle's row of the 24 h table with its window, or None without a kept minute."""
    row = db.execute_prepared(conn, "ev_vehicle_performance", _READ, (vehicle_id,)).first()
    if row is None or row.readings <= 0:
        return None
    return row._mapping

"""Charging sessions: a vehicle's stretch on one meter, its readings naming that meter with no two
consecutive ones more than SESSION_GAP_SECONDS apart (docs/DESIGN.md, "Sessions").

The refresh builds them from the minutes that received readings, in its own transaction
(`update`): the vehicle readings of a run of minutes, with the stored sessions of the same vehicle
and meter that lie within the gap of them, are cut into islands again, and the islands replace
those sessions. History only grows, so a session only grows or joins another (a late reading
that bridges a gap joins two); a reading delivered twice is one row of history and one seen
minute.

What a session charged is its vehicle's contributions on its meter within it, summed (SUMS), and
kept with it so that a month of sessions reads as rows, not as thousands of contributions. The
sums move as exactly as the 24 h figures: an island starts with the sums of the sessions it
replaces, then every contribution the refresh recomputed is counted in, its old value out, on the
session that holds its minute (`apply_deltas`); sessions of one vehicle and meter are more than a
minute apart, so a minute has one. A full rebuild sums the window's sessions afresh (`resum`).

Read (`page`): a device's sessions as the API pages them, each with what it charged, as the
refresh keeps it, and the OCPP transaction its charger reported for it, if any. A meter's OCPP
transactions that no vehicle's session overlaps are its sessions too, without a vehicle.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from models.kinds import METER, VEHICLE
from readings import packed

# What a session keeps of its contributions: their sums, and how many there are (its kept minutes).
SUMS = ("ac_kwh", "dc_kwh", "suspect_minutes", "minutes")

# A run's readings and the sessions they may touch, cut into islands that replace those sessions.
# A stored session is a piece like a reading: from its first to its last moment, its SOCs there,
# its seen minutes (a multirange of minutes since the epoch: a stretch of minutes is one range)
# and its sums (a reading brings none: its contribution comes as a delta). Pieces of one
# (vehicle, meter) in order of their start break into a new island where a piece starts more
# than the gap after every piece before it has ended. The usual island is one session that grew
# at its end: it is updated in place (no indexed column changes), not replaced.
# The islands' table is made once a transaction and emptied for each run: a table dropped keeps
# its locks to the transaction's end, and a refresh of many runs would fill PostgreSQL's lock
# table.
_UPDATE = f"""
CREATE TEMP TABLE IF NOT EXISTS session_islands (
    vehicle_id text, meter_id text, start_at timestamptz, end_at timestamptz, start_soc int,
    end_soc int, seen int4multirange, old_starts timestamptz[], ac_kwh numeric, dc_kwh numeric,
    suspect_minutes bigint, minutes bigint
) ON COMMIT DROP;
TRUNCATE session_islands;
INSERT INTO session_islands
WITH readings AS (
    SELECT vehicle_id, meter_id, recorded_at AS start_at, recorded_at AS end_at,
           soc_hundredths AS start_soc, soc_hundredths AS end_soc,
           int4multirange(int4range(floor(extract(epoch FROM recorded_at) / 60)::int,
                                    floor(extract(epoch FROM recorded_at) / 60)::int + 1)) AS seen,
           NULL::timestamptz AS old_start, 0::numeric AS ac_kwh, 0::numeric AS dc_kwh,
           0 AS suspect_minutes, 0 AS minutes
    FROM {packed.rows_sql(VEHICLE, lo=":lo", hi=":hi")} v
), spans AS (
    SELECT vehicle_id, meter_id, min(start_at) - :gap AS lo, max(end_at) + :gap AS hi
    FROM readings GROUP BY vehicle_id, meter_id
), old AS (
    -- A pair's sessions are apart by more than the gap: those within it of the run's readings
    -- are the last one starting before them and any starting among them.
    SELECT s.vehicle_id, s.meter_id, s.start_at, s.end_at, s.start_soc_hundredths,
           s.end_soc_hundredths, s.seen_minutes, s.start_at, s.ac_kwh, s.dc_kwh,
           s.suspect_minutes, s.minutes
    FROM spans p
    CROSS JOIN LATERAL (
        (SELECT * FROM charging_sessions
         WHERE vehicle_id = p.vehicle_id AND meter_id = p.meter_id AND start_at < p.lo
         ORDER BY start_at DESC LIMIT 1)
        UNION ALL
        SELECT * FROM charging_sessions
        WHERE vehicle_id = p.vehicle_id AND meter_id = p.meter_id
          AND start_at >= p.lo AND start_at <= p.hi
    ) s
    WHERE s.end_at >= p.lo
), pieces AS (
    SELECT * FROM readings UNION ALL SELECT * FROM old
), marked AS (
    SELECT *, CASE WHEN start_at - max(end_at) OVER (
               PARTITION BY vehicle_id, meter_id ORDER BY start_at, end_at
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) > :gap
           THEN 1 ELSE 0 END AS breaks
    FROM pieces
), islands AS (
    SELECT *, sum(breaks) OVER (
               PARTITION BY vehicle_id, meter_id ORDER BY start_at, end_at
               ROWS UNBOUNDED PRECEDING) AS island
    FROM marked
)
SELECT vehicle_id, meter_id, min(start_at) AS start_at, max(end_at) AS end_at,
       (array_agg(start_soc ORDER BY start_at))[1] AS start_soc,
       (array_agg(end_soc ORDER BY end_at DESC))[1] AS end_soc,
       range_agg(seen) AS seen,
       array_remove(array_agg(old_start), NULL) AS old_starts,
       {", ".join(f"sum({c}) AS {c}" for c in SUMS)}
FROM islands GROUP BY vehicle_id, meter_id, island;
UPDATE charging_sessions s
SET end_at = i.end_at, end_soc_hundredths = i.end_soc, seen_minutes = i.seen,
    {", ".join(f"{c} = i.{c}" for c in SUMS)}
FROM session_islands i
WHERE s.vehicle_id = i.vehicle_id AND s.meter_id = i.meter_id AND s.start_at = i.start_at
  AND i.start_at = ANY(i.old_starts);
DELETE FROM charging_sessions s USING session_islands i
WHERE s.vehicle_id = i.vehicle_id AND s.meter_id = i.meter_id
  AND s.start_at = ANY(i.old_starts) AND s.start_at <> i.start_at;
INSERT INTO charging_sessions
    (vehicle_id, meter_id, start_at, end_at, start_soc_hundredths, end_soc_hundredths,
     seen_minutes, {", ".join(SUMS)})
SELECT vehicle_id, meter_id, start_at, end_at, start_soc, end_soc, seen, {", ".join(SUMS)}
FROM session_islands WHERE NOT start_at = ANY(old_starts)
"""


def update(conn: Connection, lo: datetime, hi: datetime, gap: timedelta) -> None:
    """Bring the sessions up to the vehicle readings recorded in [lo, hi)."""
    for statement in _UPDATE.split(";"):
        if statement.strip():
            conn.execute(text(statement), {"lo": lo, "hi": hi, "gap": gap})


# The refresh's recomputed contributions, each counted in (NEW_DELTA, from the new ones) and its
# old value out (OLD_DELTA, from the table before they replace it).
DELTAS = """
CREATE TEMP TABLE IF NOT EXISTS session_deltas (
    vehicle_id text, meter_id text, minute timestamptz, ac_kwh numeric, dc_kwh numeric,
    suspect_minutes int, minutes int
) ON COMMIT DROP;
TRUNCATE session_deltas
"""
NEW_DELTA = "vehicle_id, meter_id, minute, ac_kwh, dc_kwh, suspect_minutes, 1"
OLD_DELTA = "vehicle_id, meter_id, minute, -ac_kwh, -dc_kwh, -suspect_minutes, -1"

# Each minute's change goes to the session of its vehicle and meter that holds it: the last one
# starting before the minute ends, if it has not ended before the minute began.
_APPLY_DELTAS = f"""
UPDATE charging_sessions s
SET {", ".join(f"{c} = s.{c} + d.{c}" for c in SUMS)}
FROM (
    SELECT o.vehicle_id, o.meter_id, o.start_at, {", ".join(f"sum(m.{c}) AS {c}" for c in SUMS)}
    FROM (
        SELECT vehicle_id, meter_id, minute, {", ".join(f"sum({c}) AS {c}" for c in SUMS)}
        FROM session_deltas GROUP BY vehicle_id, meter_id, minute
    ) m
    CROSS JOIN LATERAL (
        SELECT vehicle_id, meter_id, start_at, end_at FROM charging_sessions
        WHERE vehicle_id = m.vehicle_id AND meter_id = m.meter_id
          AND start_at < m.minute + interval '1 minute'
        ORDER BY start_at DESC LIMIT 1
    ) o
    WHERE o.end_at >= m.minute
    GROUP BY o.vehicle_id, o.meter_id, o.start_at
) d
WHERE s.vehicle_id = d.vehicle_id AND s.meter_id = d.meter_id AND s.start_at = d.start_at
"""

# After a full rebuild, every session that overlaps the window [start, end) summed afresh. A
# session inside the window that is its vehicle and meter's only one there holds all their
# contributions of the window (every vehicle reading is in a session: each write queues its
# minute for the refresh), so its sums are the pair's, which the rebuild's builders have already
# summed (window_pairs): one pass over the sessions instead of an index range each.
_WINDOW_SESSIONS = """
CREATE TEMP TABLE window_sessions ON COMMIT DROP AS
SELECT vehicle_id, meter_id, start_at, end_at, start_at >= :start AND end_at < :end
       AND count(*) OVER (PARTITION BY vehicle_id, meter_id) = 1 AS alone
FROM charging_sessions WHERE end_at >= :start AND start_at < :end
"""
_FROM_PAIRS = f"""
UPDATE charging_sessions s
SET {", ".join(f"{c} = coalesce(p.{c}, 0)" for c in SUMS[:-1])},
    minutes = coalesce(p.meter_minutes, 0)
FROM window_sessions w LEFT JOIN window_pairs p
  ON p.vehicle_id = w.vehicle_id AND p.meter_id = w.meter_id
WHERE w.alone
  AND s.vehicle_id = w.vehicle_id AND s.meter_id = w.meter_id AND s.start_at = w.start_at
"""
# The others (across a bound of the window, or beside another of their pair): their vehicle's
# contributions on their meter within them, summed.
_RESUM = f"""
UPDATE charging_sessions s
SET {", ".join(f"{c} = f.{c}" for c in SUMS)}
FROM window_sessions w
CROSS JOIN LATERAL (
    SELECT coalesce(sum(c.ac_kwh), 0) AS ac_kwh, coalesce(sum(c.dc_kwh), 0) AS dc_kwh,
           coalesce(sum(c.suspect_minutes), 0) AS suspect_minutes, count(*) AS minutes
    FROM vehicle_minute_contributions c
    WHERE c.vehicle_id = w.vehicle_id AND c.meter_id = w.meter_id
      AND c.minute >= date_bin('1 minute', w.start_at, timestamptz 'epoch')
      AND c.minute <= w.end_at
) f
WHERE NOT w.alone
  AND s.vehicle_id = w.vehicle_id AND s.meter_id = w.meter_id AND s.start_at = w.start_at
"""


def apply_deltas(conn: Connection) -> None:
    """Move the sessions' sums by session_deltas, once the sessions are up to the readings."""
    conn.execute(text(_APPLY_DELTAS))


def resum(conn: Connection, start: datetime, end: datetime) -> None:
    """Sum the sessions that overlap [start, end) afresh, after a full rebuild of those minutes
    has filled window_pairs."""
    for statement in (
        "DROP TABLE IF EXISTS window_sessions",
        _WINDOW_SESSIONS,
        _FROM_PAIRS,
        _RESUM,
    ):
        conn.execute(text(statement), {"start": start, "end": end})


def forget_before(conn: Connection, moment: datetime) -> int:
    """Sessions that ended before `moment` (past retention, with their history), deleted."""
    return conn.execute(
        text("DELETE FROM charging_sessions WHERE end_at < :m"), {"m": moment}
    ).rowcount


# A meter's ID as its OCPP transactions name it: the charger's ID, with `:<connector>` past
# connector 0 (devices/transactions.py).
_TRANSACTION_METER = (
    "t.charge_point_id || CASE WHEN t.connector_id = 0 THEN '' ELSE ':' || t.connector_id END"
)
_OF_METER = f"""t.charge_point_id IN ({{meter}}, regexp_replace({{meter}}, ':[0-9]+$', ''))
      AND {_TRANSACTION_METER} = {{meter}}"""

# What a stopped transaction's meter counted: by the register rule's resets and glitches
# (docs/DESIGN.md, "Registers") over its register readings from start to stop, pair by pair:
# a rise counts its difference, a drop is a reset that counts the new register, and a single low
# reading between two higher ones is a glitch, skipped. Unlike a minute's interval, a pair spans
# any gap: both ends belong to the transaction. Stop minus start would go negative across a reset.
_TRANSACTION_ENERGY = f"""(
    SELECT sum(CASE WHEN d.register >= d.before THEN d.register - d.before ELSE d.register END)
    FROM (
        SELECT g.register, lag(g.register) OVER (ORDER BY g.recorded_at) AS before
        FROM (
            SELECT r.recorded_at, r.kwh_register_ac AS register,
                   lag(r.kwh_register_ac) OVER w AS previous,
                   lead(r.kwh_register_ac) OVER w AS next
            FROM {
    packed.rows_sql(
        METER, lo="t.started_at", hi="t.stopped_at", hi_inclusive=True, device="{meter}"
    )
} r
            WHERE r.kwh_register_ac IS NOT NULL
            WINDOW w AS (ORDER BY r.recorded_at)
        ) g
        WHERE NOT coalesce(g.register < g.previous AND g.next >= g.previous, false)
    ) d
    WHERE d.before IS NOT NULL AND t.stopped_at IS NOT NULL)"""
# Without its readings (none stored, or refused), the registers at either end, unless they fell.
_TRANSACTION_ENERGY = f"""coalesce({_TRANSACTION_ENERGY},
    CASE WHEN t.meter_stop_kwh >= t.meter_start_kwh
         THEN t.meter_stop_kwh - t.meter_start_kwh END)"""

# A page of one device's sessions starting in [start, end), after a (start, other id) position.
_VEHICLE_SESSIONS = f"""
SELECT s.vehicle_id, s.meter_id, s.start_at, s.end_at, s.start_soc_hundredths,
       s.end_soc_hundredths, {", ".join(f"s.{c}" for c in SUMS)},
       (SELECT sum(upper(r) - lower(r)) FROM unnest(s.seen_minutes) r) AS seen,
       t.transaction_id, t.id_tag, t.transaction_kwh
FROM charging_sessions s
LEFT JOIN LATERAL (
    -- The OCPP transaction of the session's meter it started in or that started within it.
    SELECT coalesce(t.ref, t.id::text) AS transaction_id, t.id_tag,
           {_TRANSACTION_ENERGY.format(meter="s.meter_id")} AS transaction_kwh
    FROM charging_transactions t
    WHERE {_OF_METER.format(meter="s.meter_id")}
      AND t.started_at <= s.end_at AND coalesce(t.stopped_at, 'infinity') >= s.start_at
    ORDER BY t.started_at DESC LIMIT 1
) t ON true
WHERE s.{{by}} = :device AND s.start_at >= :start AND s.start_at < :end
  AND (s.start_at, s.{{other}}) > (:after_at, :after_id)
"""
# A meter's OCPP transactions that no vehicle's session overlaps: a charger whose vehicles send
# no telemetry still shows its sessions, bounded by the transaction (to its meter's last reading
# while it runs), with the minutes its meter reported its register in (what OCPP meters send;
# their index keeps this a range read) and the energy the transaction's register counted. No
# minute is kept without a vehicle, so their AC and DC sums are empty.
_TRANSACTION_SESSIONS = f"""
SELECT NULL::text AS vehicle_id, CAST(:device AS text) AS meter_id, t.started_at AS start_at,
       e.end_at, NULL::int AS start_soc_hundredths, NULL::int AS end_soc_hundredths,
       NULL::numeric AS ac_kwh, NULL::numeric AS dc_kwh, 0 AS suspect_minutes, 0 AS minutes,
       (SELECT count(DISTINCT date_bin('1 minute', r.recorded_at, timestamptz 'epoch'))
        FROM {
    packed.rows_sql(METER, lo="t.started_at", hi="e.end_at", hi_inclusive=True, device=":device")
} r
        WHERE r.kwh_register_ac IS NOT NULL) AS seen,
       coalesce(t.ref, t.id::text) AS transaction_id, t.id_tag,
       {_TRANSACTION_ENERGY.format(meter=":device")} AS transaction_kwh
FROM charging_transactions t
CROSS JOIN LATERAL (
    SELECT coalesce(t.stopped_at, (
        SELECT max(r.recorded_at)
        FROM {packed.rows_sql(METER, lo="t.started_at", device=":device")} r
        WHERE r.kwh_register_ac IS NOT NULL), t.started_at) AS end_at
) e
WHERE {_OF_METER.format(meter=":device")}
  AND t.started_at >= :start AND t.started_at < :end
  AND (t.started_at, '') > (:after_at, :after_id)
  AND NOT EXISTS (
      SELECT FROM charging_sessions s
      WHERE s.meter_id = :device AND s.start_at <= e.end_at AND s.end_at >= t.started_at)
"""
_PAGE_OF_SESSIONS = "ORDER BY s.start_at, s.{other} LIMIT :limit"
_PAGE_OF_TRANSACTIONS = "ORDER BY t.started_at LIMIT :limit"
_PAGE_OF_BOTH = "ORDER BY p.start_at, coalesce(p.vehicle_id, '') LIMIT :limit"
# The least position: before every session.
FIRST = (datetime.fromisoformat("0001-01-01T00:00:00+00:00"), "")


def page(
    conn: Connection,
    by: str,
    device_id: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, str],
    limit: int | None,
) -> list[Any]:
    """The sessions of a vehicle (by="vehicle_id") or a meter (by="meter_id"), oldest first; a
    meter's include its OCPP transactions that no vehicle's session overlaps (vehicle None)."""
    other = "meter_id" if by == "vehicle_id" else "vehicle_id"
    query = f"{_VEHICLE_SESSIONS} {_PAGE_OF_SESSIONS}".format(by=by, other=other)
    if by == "meter_id":
        # Each part is cut to the page before the two are merged.
        transactions = f"{_TRANSACTION_SESSIONS} {_PAGE_OF_TRANSACTIONS}"
        query = f"SELECT * FROM (({query}) UNION ALL ({transactions})) p {_PAGE_OF_BOTH}"
    rows = conn.execute(
        text(query),
        {
            "device": device_id,
            "start": start,
            "end": end,
            "after_at": after[0],
            "after_id": after[1],
            "limit": limit,
        },
    ).all()
    return [row._mapping for row in rows]

"""Recomputing vehicle_minute_contributions from history: a run of minutes in the refresh's own
transaction, or, for a full rebuild, whole day partitions built beside the live ones and swapped in.

A day of fleet history is tens of millions of readings and makes over ten million contribution
rows. Written row by row through the table's two indexes in one transaction, that took minutes;
here each day partition the window touches is built as a plain table, committed first so that
several connections can fill it: they take the window's 15-minute runs, then the tables' index
builds, as each comes free. The refresh's transaction detaches the old partitions and attaches
the new ones. Readers see the old partitions until the refresh commits; a rebuild that fails
leaves `_rebuild` tables the next one drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from efficiency import rollups
from efficiency.formula import SUMMED
from models.kinds import METER, VEHICLE
from readings import packed
from readings.records import minute_of
from storage import db, partitions

TABLE = "vehicle_minute_contributions"
# A contribution's columns, in the order RECOMPUTE gives them.
COLUMNS = ("minute", "meter_id", "vehicle_id", *SUMMED, "minutes")
_MINUTE = timedelta(minutes=1)

# The contributions of the minutes [lo, hi), as rows of TABLE. Per (meter, minute), a vehicle's
# readings are kept when exactly one vehicle reported that meter in that minute (the min and max
# vehicle id agree) and the meter itself reported in it (count(ac) > 0). Both streams go through
# one hash aggregate: no join. A register reading whose interval is not known has neither ac nor
# dc, and its (meter, minute) is not kept (count(*) tells it: docs/DESIGN.md, "Registers").
# Energy is summed as integer micro-kWh (history keeps six decimals, so the sums are exact) and
# turned back into kWh once per row; ids compare bytewise (COLLATE "C") as only equality matters.
# The window function (one sort of the kept rows) picks the meter a vehicle's minute counts on.
RECOMPUTE = f"""
WITH readings AS (
    SELECT {minute_of("recorded_at")} AS minute,
           meter_id COLLATE "C" AS meter_id, NULL::text COLLATE "C" AS vehicle_id,
           (kwh_consumed_ac * 1000000)::bigint AS ac, NULL::bigint AS dc,
           NULL::int AS soc, NULL::int AS temp
    FROM {packed.rows_sql(METER, lo=":lo", hi=":hi")} m
    UNION ALL
    SELECT {minute_of("recorded_at")}, meter_id COLLATE "C",
           vehicle_id COLLATE "C", NULL, (kwh_delivered_dc * 1000000)::bigint,
           soc_hundredths, battery_temp_hundredths
    FROM {packed.rows_sql(VEHICLE, lo=":lo", hi=":hi")} v
), kept AS (
    SELECT minute, meter_id, min(vehicle_id) AS vehicle_id, sum(ac) AS ac, sum(dc) AS dc,
           sum(soc) AS soc, sum(temp) AS temp, count(vehicle_id) AS readings
    FROM readings GROUP BY minute, meter_id
    HAVING min(vehicle_id) = max(vehicle_id) AND count(ac) > 0
       AND count(*) = count(ac) + count(dc)
)
SELECT minute, meter_id, vehicle_id, ac * 0.000001, dc * 0.000001, soc, temp, readings,
       (dc > ac)::int,
       (meter_id = min(meter_id) OVER (PARTITION BY minute, vehicle_id))::int
FROM kept
"""
_LIST = ", ".join(COLUMNS)
# The window's sums per (meter, vehicle): the figures, the vehicle's minutes (`minutes`), and
# the meter's minutes (its rows).
PAIR_SUMS = (*SUMMED, "minutes", "meter_minutes")
_SUMMED_BY_PAIR = ", ".join(
    [*(f"sum({column}) AS {column}" for column in PAIR_SUMS[:-1]), "count(*) AS meter_minutes"]
)
_PAIR_TOTALS = ", ".join(f"sum({column}) AS {column}" for column in PAIR_SUMS)
# The table's indexes besides its primary key (named as PostgreSQL names a partition's own).
_INDEXES = {"vehicle": "vehicle_id, minute", "meter": "meter_id, minute"}
_KEY = "minute, meter_id"
# Set for every recompute: a 15-minute run's aggregate of a 10,000-device fleet stays in memory.
WORK_MEM = "SET LOCAL work_mem = '64MB'"
# Connections a full rebuild works on besides the refresh's own, unless told (REBUILD_BUILDERS,
# Settings.builders). Its work is CPU-bound in PostgreSQL.
BUILDERS = 2
# A builder's commit need not wait for the disk: its tables count only once the refresh's
# transaction, which does wait, has swapped them in.
_BUILDER_SETTINGS = (WORK_MEM, "SET LOCAL synchronous_commit = off")


def runs(minutes: Sequence[datetime], longest: int) -> list[tuple[datetime, datetime]]:
    """Sorted minutes as [lo, hi) ranges of consecutive minutes of one UTC day, none longer
    than `longest` (a run falls in one day partition)."""
    out: list[tuple[datetime, datetime]] = []
    for minute in minutes:
        last = out[-1] if out else None
        if (
            last
            and last[1] == minute
            and minute - last[0] < longest * _MINUTE
            and minute.date() == last[0].date()
        ):
            out[-1] = (last[0], minute + _MINUTE)
        else:
            out.append((minute, minute + _MINUTE))
    return out


def rebuild_window(
    conn: Connection,
    engine: Engine,
    start: datetime,
    end: datetime,
    chunk_minutes: int,
    builders: int = BUILDERS,
) -> bool:
    """Replace the contributions of [start, end) by day partitions built on `engine`'s
    connections, swapped in within conn's transaction, and fill the temporary table
    `window_pairs` with the window's sums per (meter, vehicle) (PAIR_SUMS); the days' hourly
    rollups are summed afresh from the new tables, by the builders too. `engine` must see
    the history conn sees (committed). False, with nothing changed, when a day of the window
    has no partition of its own yet: the caller recomputes in place then.
    """
    days = _days(start, end)
    if not set(days) <= partitions.existing_days(conn, TABLE):
        return False
    # Partition upkeep must not make or drop these days' partitions under the swap.
    db.transaction_lock(conn, partitions.LOCK_KEY)
    window = {"s": start, "e": end}
    _prepare(engine, days, window)
    # The work is cut into pieces that any builder takes, not a day per builder: the window's
    # two days are rarely of equal length, and the shorter one's builder sat idle for over a
    # quarter of the rebuild.
    minutes = [start + i * _MINUTE for i in range((end - start) // _MINUTE)]
    recompute = [
        (f"INSERT INTO {_rebuilt(lo.date())} ({_LIST}) {RECOMPUTE}", {"lo": lo, "hi": hi})
        for lo, hi in runs(minutes, chunk_minutes)
    ]
    # Largest day first, so that the last piece to finish is a small one.
    by_size = sorted(days, key=lambda day: -sum(m.date() == day for m in minutes))
    finish = [
        *((statement, {}) for day in by_size for statement in _indexes(day)),
        *((_pairs(day), window) for day in by_size),
        *((rollups.day_hours(_rebuilt(day)), {}) for day in by_size),
    ]
    with ThreadPoolExecutor(builders) as pool:
        list(pool.map(lambda piece: _build(engine, *piece), recompute))
        list(pool.map(lambda piece: _build(engine, *piece), finish))
    parts = " UNION ALL ".join(f"SELECT * FROM {_rebuilt(day)}_pairs" for day in days)
    conn.execute(text("DROP TABLE IF EXISTS window_pairs"))
    conn.execute(
        text(
            "CREATE TEMP TABLE window_pairs ON COMMIT DROP AS "
            f"SELECT meter_id, vehicle_id, {_PAIR_TOTALS} "
            f"FROM ({parts}) p GROUP BY meter_id, vehicle_id"
        )
    )
    for day in days:
        conn.execute(text(f"DROP TABLE {_rebuilt(day)}_pairs"))
        rollups.replace_day(conn, _rebuilt(day), *partitions.day_bounds(day))
        _swap(conn, day)
    return True


def _days(start: datetime, end: datetime) -> list[date]:
    day, last = start.date(), (end - _MINUTE).date()
    days = []
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    return days


def _rebuilt(day: date) -> str:
    return f"{partitions.partition_name(TABLE, day)}_rebuild"


def _prepare(engine: Engine, days: list[date], window: dict[str, datetime]) -> None:
    """Each day's new table, committed so that every builder can write to it, holding the day's
    contributions outside the window as they are."""
    with engine.begin() as c:
        for day in days:
            live, new = partitions.partition_name(TABLE, day), _rebuilt(day)
            lo, hi = partitions.day_bounds(day)
            c.execute(text(f"DROP TABLE IF EXISTS {new}, {new}_pairs, {new}_hours"))
            # The check matches the partition bounds, so attaching needs no scan to prove them.
            c.execute(
                text(
                    f"CREATE TABLE {new} (LIKE {TABLE} INCLUDING DEFAULTS, "
                    f"CONSTRAINT {new}_bounds CHECK (minute >= {lo} AND minute < {hi}))"
                )
            )
            # Two plain ranges, each an index range scan: "outside the window" reads it all.
            for outside in ("minute < :s", "minute >= :e"):
                c.execute(text(f"INSERT INTO {new} SELECT * FROM {live} WHERE {outside}"), window)


def _indexes(day: date) -> list[str]:
    new = _rebuilt(day)
    return [
        f"CREATE UNIQUE INDEX {new}_pkey ON {new} ({_KEY})",
        *(f"CREATE INDEX {new}_{name} ON {new} ({cols})" for name, cols in _INDEXES.items()),
    ]


def _pairs(day: date) -> str:
    """The day's part of the window's sums per (meter, vehicle), into a table of its own."""
    new = _rebuilt(day)
    return (
        f"CREATE UNLOGGED TABLE {new}_pairs AS SELECT meter_id, vehicle_id, {_SUMMED_BY_PAIR} "
        f"FROM {new} WHERE minute >= :s AND minute < :e GROUP BY meter_id, vehicle_id"
    )


def _build(engine: Engine, statement: str, params: dict[str, datetime]) -> None:
    with engine.begin() as c:
        for setting in _BUILDER_SETTINGS:
            c.execute(text(setting))
        c.execute(text(statement), params)


def _swap(conn: Connection, day: date) -> None:
    live, new = partitions.partition_name(TABLE, day), _rebuilt(day)
    lo, hi = partitions.day_bounds(day)
    for statement in (
        f"ALTER TABLE {TABLE} DETACH PARTITION {live}",
        f"DROP TABLE {live}",
        f"ALTER TABLE {new} ADD CONSTRAINT {new}_pkey PRIMARY KEY USING INDEX {new}_pkey",
        f"ALTER TABLE {new} RENAME TO {live}",
        f"ALTER INDEX {new}_pkey RENAME TO {live}_pkey",
        *(
            f"ALTER INDEX {new}_{index} RENAME TO {live}_{columns.replace(', ', '_')}_idx"
            for index, columns in _INDEXES.items()
        ),
        f"ALTER TABLE {TABLE} ATTACH PARTITION {live} FOR VALUES FROM ({lo}) TO ({hi})",
        f"ALTER TABLE {live} DROP CONSTRAINT {new}_bounds",
    ):
        conn.execute(text(statement))

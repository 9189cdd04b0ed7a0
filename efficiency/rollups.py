"""Hourly rollups: the per-minute contributions summed per UTC hour and (meter, vehicle), so that
the figures of whole hours outlive the minutes' day partitions (RETENTION_DAYS) and are kept
ROLLUP_RETENTION_DAYS (docs/DESIGN.md, "Rollups").

They hold the sealed hours: those before `efficiency_window.hours_through`. The refresh seals
each hour once the window has passed it, summing its minutes in one aggregate (`seal`); from then
on a recomputed minute of a sealed hour (a late reading) moves its hour's row by the new
contribution minus the old one (exact numerics and integers, as the 24 h sums). The minutes of
the hours not yet sealed are read as minutes, so the steady refresh, which recomputes only those,
keeps no rollup at all. A full rebuild's swapped days are summed afresh from their new tables
(contributions.rebuild_window). A window is read as its whole hours from here and its partial
edges from the minutes (`contributions_of`): the same sums the minutes alone gave while they
existed. Reads never go past the refreshed window's end, and every hour before the one it is in
is sealed, in the same transaction that moved the window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from efficiency.formula import SUMMED

TABLE = "efficiency_hourly"
_LAST_MICROSECOND = "CAST(:lo AS timestamptz) + interval '1 hour' - interval '1 microsecond'"
_HOUR = "date_bin('1 hour', {}, timestamptz 'epoch')"
_COLUMNS = ", ".join(SUMMED)
_ADDED = ", ".join(f"{c} = h.{c} + EXCLUDED.{c}" for c in (*SUMMED, "minutes", "meter_minutes"))

# The temporary table of the refresh's changes to the hours, made with its other ones.
DELTAS = f"""
CREATE TEMP TABLE hourly_deltas ON COMMIT DROP
    AS SELECT hour, meter_id, vehicle_id, {_COLUMNS}, minutes, meter_minutes
    FROM {TABLE} WITH NO DATA
"""

# A run of recomputed minutes [lo, hi) before :through (in sealed hours): the new contributions
# in, the old ones out.
RUN_DELTAS = f"""
INSERT INTO hourly_deltas
SELECT {_HOUR.format("minute")}, meter_id, vehicle_id, {_COLUMNS}, minutes, 1
FROM new_contributions WHERE minute < :through
UNION ALL
SELECT {_HOUR.format("minute")}, meter_id, vehicle_id,
       {", ".join(f"-{c}" for c in SUMMED)}, -minutes, -1
FROM vehicle_minute_contributions WHERE minute >= :lo AND minute < :hi AND minute < :through
"""

APPLY_DELTAS = f"""
INSERT INTO {TABLE} AS h (hour, meter_id, vehicle_id, {_COLUMNS}, minutes, meter_minutes)
SELECT hour, meter_id, vehicle_id, {", ".join(f"sum({c})" for c in SUMMED)}, sum(minutes),
       sum(meter_minutes)
FROM hourly_deltas GROUP BY hour, meter_id, vehicle_id
ON CONFLICT (meter_id, hour, vehicle_id) DO UPDATE SET {_ADDED};
DELETE FROM {TABLE} h
USING (SELECT DISTINCT hour, meter_id, vehicle_id FROM hourly_deltas WHERE meter_minutes < 0) d
WHERE h.hour = d.hour AND h.meter_id = d.meter_id AND h.vehicle_id = d.vehicle_id
  AND h.meter_minutes <= 0
"""

_HOURS_COLUMNS = f"hour, meter_id, vehicle_id, {_COLUMNS}, minutes, meter_minutes"
_KEY = ("meter_id", "hour", "vehicle_id")


def seal(
    conn: Connection,
    through: datetime | None,
    before: datetime,
    exact_since: datetime | None = None,
) -> None:
    """Seal the hours from `through` (where the sealed hours end, efficiency_window's
    hours_through; None before the first refresh) to `before` (on the hour): each summed from its
    minutes, replacing whatever row it had, but for those from `exact_since` on, already summed
    (a full rebuild's days). In the refresh's transaction, under its lock, after its minutes were
    recomputed. Never unseals: an earlier `before` changes nothing."""
    if through is not None and through >= before:
        return
    if through is None:
        # The first refresh: its minutes are all there are (the earliest, on its hour).
        first = f"SELECT {_HOUR.format('min(minute)')} FROM vehicle_minute_contributions"
        through = conn.execute(text(first)).scalar() or before
    summed_to = before if exact_since is None else min(before, exact_since)
    if through < summed_to:
        bounds = {"lo": through, "hi": summed_to}
        conn.execute(text(f"DELETE FROM {TABLE} WHERE hour >= :lo AND hour < :hi"), bounds)
        conn.execute(
            text(
                f"INSERT INTO {TABLE} ({_HOURS_COLUMNS}) SELECT {_HOUR.format('minute')}, "
                f"meter_id, vehicle_id, {', '.join(f'sum({c})' for c in SUMMED)}, "
                "sum(minutes), count(*) FROM vehicle_minute_contributions "
                "WHERE minute >= :lo AND minute < :hi GROUP BY 1, 2, 3"
            ),
            bounds,
        )
    conn.execute(
        text("UPDATE efficiency_window SET hours_through = :b WHERE id = 1"), {"b": before}
    )


def day_hours(day_table: str) -> str:
    """SQL: a day's contributions (a full rebuild's new day table) summed per hour, into a table
    of its own, `<day_table>_hours`: a builder's piece of work."""
    # Hashed, not sorted: the planner cannot tell how few hours date_bin makes of a day's
    # minutes and sorts them all, which took twice the time (5.0 s against 2.7 for a 6-hour
    # window of 10,000 vehicles, one process).
    return (
        "SET LOCAL enable_sort = off; "
        f"CREATE UNLOGGED TABLE {day_table}_hours AS SELECT {_HOUR.format('minute')} AS hour, "
        f"meter_id, vehicle_id, {', '.join(f'sum({c}) AS {c}' for c in SUMMED)}, "
        f"sum(minutes) AS minutes, count(*) AS meter_minutes FROM {day_table} GROUP BY 1, 2, 3"
    )


def replace_day(conn: Connection, day_table: str, lo: str, hi: str) -> None:
    """The day [lo, hi) (SQL literals) of the rollups made equal to `day_hours`' table, dropped
    after: in the rebuilding refresh's transaction. Only the hours that differ are written: a
    rebuild (a repair) mostly finds the sums it had, and rewriting a day of rows cost it more
    than comparing them."""
    new = f"{day_table}_hours"
    same_key = " AND ".join(f"r.{c} = n.{c}" for c in _KEY)
    figures = (*SUMMED, "minutes", "meter_minutes")
    conn.execute(
        text(
            f"MERGE INTO {TABLE} r USING {new} n ON {same_key} "
            f"WHEN MATCHED AND ({', '.join(f'r.{c}' for c in figures)}) IS DISTINCT FROM "
            f"({', '.join(f'n.{c}' for c in figures)}) THEN UPDATE SET "
            f"{', '.join(f'{c} = n.{c}' for c in figures)} "
            f"WHEN NOT MATCHED THEN INSERT ({_HOURS_COLUMNS}) "
            f"VALUES ({', '.join(f'n.{c}' for c in _HOURS_COLUMNS.split(', '))})"
        )
    )
    conn.execute(
        text(
            f"DELETE FROM {TABLE} r WHERE r.hour >= {lo} AND r.hour < {hi} "
            f"AND NOT EXISTS (SELECT FROM {new} n WHERE {same_key})"
        )
    )
    conn.execute(text(f"DROP TABLE {new}"))


def forget_before(conn: Connection, moment: datetime) -> int:
    """Drop the hours before `moment` (ROLLUP_RETENTION_DAYS); how many rows went."""
    return conn.execute(text(f"DELETE FROM {TABLE} WHERE hour < :m"), {"m": moment}).rowcount


def contributions_of(id_column: str) -> str:
    """SQL: the rows (minute, meter_id, vehicle_id, the sums, minutes, meter_minutes) a device's
    figures over [:lo, :hi) sum: its whole hours from the rollups, the minutes of the partial
    hours at either edge from the contributions. `:d` is the device."""
    # h0: the first whole hour from :lo (its own when :lo is on one); h1: the hour :hi is in.
    whole = "h0 < h1"
    return f"""(
    WITH edges AS (
        SELECT CAST(:lo AS timestamptz) AS lo, CAST(:hi AS timestamptz) AS hi,
               {_HOUR.format(_LAST_MICROSECOND)} AS h0,
               {_HOUR.format("CAST(:hi AS timestamptz)")} AS h1
    )
    SELECT r.hour AS minute, r.meter_id, r.vehicle_id, {", ".join(f"r.{c}" for c in SUMMED)},
           r.minutes, r.meter_minutes
    FROM {TABLE} r, edges e
    WHERE e.{whole} AND r.{id_column} = :d AND r.hour >= e.h0 AND r.hour < e.h1
    UNION ALL
    SELECT m.minute, m.meter_id, m.vehicle_id, {", ".join(f"m.{c}" for c in SUMMED)},
           m.minutes, 1
    FROM vehicle_minute_contributions m, edges e
    WHERE m.{id_column} = :d AND m.minute >= e.lo
      AND m.minute < CASE WHEN e.{whole} THEN least(e.h0, e.hi) ELSE e.hi END
    UNION ALL
    SELECT m.minute, m.meter_id, m.vehicle_id, {", ".join(f"m.{c}" for c in SUMMED)},
           m.minutes, 1
    FROM vehicle_minute_contributions m, edges e
    WHERE e.{whole} AND m.{id_column} = :d AND m.minute >= e.h1 AND m.minute < e.hi
    )"""

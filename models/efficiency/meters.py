"""A meter's (a charger's) figures: the efficiency rule's sums over the kept minutes of the
vehicles it served, from the same per-minute contributions as the vehicles' figures.

The refresh moves meter_performance_24h and, per (meter, vehicle), meter_vehicle_performance_24h
by the same deltas as the vehicles' sums: a meter's vehicles served is the count of its pairs,
kept by counting the pairs that appear and empty. A meter has one contribution per kept minute
(a kept (meter, minute) has one vehicle), so its minutes are its contributions counted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from models.efficiency.formula import SUMMED, sums

PAIRS = "meter_vehicle_performance_24h"
METERS = "meter_performance_24h"
_COLUMNS = ", ".join(SUMMED)

_PLUS_EXCLUDED = ", ".join(f"{c} = p.{c} + EXCLUDED.{c}" for c in (*SUMMED, "minutes"))

# Run by the refresh after the vehicles' deltas (models/efficiency/performance.py, deltas): the
# pairs and the meters move by the same deltas; a meter's vehicles by the pairs that appeared
# (inserted: xmax is 0) or emptied, which pair_changes keeps.
APPLY_DELTAS = f"""
DROP TABLE IF EXISTS pair_changes;
CREATE TEMP TABLE pair_changes (meter_id text, vehicle_id text, minutes bigint, inserted boolean)
    ON COMMIT DROP;
WITH moved AS (
    INSERT INTO {PAIRS} AS p (meter_id, vehicle_id, {_COLUMNS}, minutes)
    SELECT meter_id, vehicle_id, {sums()}, sum(meter_minutes) FROM deltas
    GROUP BY meter_id, vehicle_id
    ON CONFLICT (meter_id, vehicle_id) DO UPDATE SET {_PLUS_EXCLUDED}
    RETURNING p.meter_id, p.vehicle_id, p.minutes, p.xmax = 0 AS inserted
)
INSERT INTO pair_changes SELECT * FROM moved WHERE inserted OR minutes <= 0;
DELETE FROM {PAIRS} p USING pair_changes c
WHERE c.minutes <= 0 AND p.meter_id = c.meter_id AND p.vehicle_id = c.vehicle_id;
INSERT INTO {METERS} AS p (meter_id, {_COLUMNS}, minutes, vehicles)
SELECT meter_id, {sums()}, sum(meter_minutes), 0 FROM deltas GROUP BY meter_id
ON CONFLICT (meter_id) DO UPDATE SET {_PLUS_EXCLUDED};
UPDATE {METERS} m SET vehicles = m.vehicles + c.change
FROM (SELECT meter_id,
             count(*) FILTER (WHERE inserted) - count(*) FILTER (WHERE minutes <= 0) AS change
      FROM pair_changes GROUP BY meter_id) c
WHERE m.meter_id = c.meter_id AND c.change <> 0;
DELETE FROM {METERS} WHERE minutes <= 0 AND meter_id IN (SELECT meter_id FROM deltas)
"""

# Every meter summed again from the pairs.
FROM_PAIRS = f"""
DELETE FROM {METERS};
INSERT INTO {METERS} (meter_id, {_COLUMNS}, minutes, vehicles)
SELECT meter_id, {sums()}, sum(minutes), count(*) FROM {PAIRS} GROUP BY meter_id
"""

# The pairs and the meters summed afresh from the window's contributions.
REBUILD = f"""
DELETE FROM {PAIRS};
INSERT INTO {PAIRS} (meter_id, vehicle_id, {_COLUMNS}, minutes)
SELECT meter_id, vehicle_id, {sums()}, count(*) FROM vehicle_minute_contributions
WHERE minute >= :new_start AND minute < :new_end
GROUP BY meter_id, vehicle_id;
{FROM_PAIRS}
"""


def save_all(conn: Connection, pairs: list[dict[str, Any]]) -> None:
    """Every running sum, the vehicles' too, from the window's sums per (meter, vehicle) (what a
    full rebuild's day builders give: contributions.PAIR_SUMS)."""
    vehicles: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        held = vehicles.setdefault(
            pair["vehicle_id"], {"vehicle_id": pair["vehicle_id"], **dict.fromkeys(_VEHICLE, 0)}
        )
        for column in _VEHICLE:
            held[column] += pair[column]
    conn.execute(text("DELETE FROM vehicle_performance_24h"))
    conn.execute(text(f"DELETE FROM {PAIRS}"))
    _insert_columns(conn, "vehicle_performance_24h", list(vehicles.values()), ("vehicle_id",))
    _insert_columns(
        conn,
        PAIRS,
        [{**p, "minutes": p["meter_minutes"]} for p in pairs],
        ("meter_id", "vehicle_id"),
    )
    for statement in FROM_PAIRS.split(";"):
        if statement.strip():
            conn.execute(text(statement))


def _insert_columns(
    conn: Connection, table: str, rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> None:
    """Rows into a table of running sums in one statement, each column sent as one array (tens
    of thousands of rows: a statement per thousand rows took seconds)."""
    columns = (*keys, *_VEHICLE)
    types = {**dict.fromkeys(keys, "text"), "ac_kwh": "numeric", "dc_kwh": "numeric"}
    arrays = ", ".join(f"CAST(:{c} AS {types.get(c, 'bigint')}[])" for c in columns)
    conn.execute(
        text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"),
        {c: [row[c] for row in rows] for c in columns},
    )


# A vehicle's running sums: the figures and its minutes.
_VEHICLE = (*SUMMED, "minutes")

_READ = f"""
SELECT m.meter_id, {", ".join(f"m.{c}" for c in SUMMED)}, m.minutes, m.vehicles,
       w.window_start, w.window_end, w.refreshed_at
FROM {METERS} m CROSS JOIN performance_window w
WHERE m.meter_id = :m
"""


def read(conn: Connection, meter_id: str) -> Any:
    """The meter's row of the 24 h table with its window, or None without a kept minute."""
    row = conn.execute(text(_READ), {"m": meter_id}).first()
    return None if row is None else row._mapping


_READ_WINDOW = f"""
SELECT :m AS meter_id, {sums("c")}, count(c.minute) AS minutes,
       count(DISTINCT c.vehicle_id) AS vehicles,
       CAST(:start AS timestamptz) AS window_start, w.window_end AS refreshed_end,
       w.refreshed_at
FROM performance_window w
LEFT JOIN vehicle_minute_contributions c
  ON c.meter_id = :m AND c.minute >= :start AND c.minute < least(:end, w.window_end)
GROUP BY w.window_end, w.refreshed_at
"""


def read_window(conn: Connection, meter_id: str, start: datetime, end: datetime) -> Any:
    """The meter's sums over the minutes starting in [start, end) that were refreshed so far
    (as performance.read_window for a vehicle); None without a kept minute there."""
    row = conn.execute(text(_READ_WINDOW), {"m": meter_id, "start": start, "end": end}).first()
    if row is None or not row.minutes:
        return None
    return {**row._mapping, "window_end": min(end, row.refreshed_end)}

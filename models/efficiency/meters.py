"""A meter's (a charger's) figures: the efficiency rule's sums over the kept minutes of the
vehicles it served, from the same per-minute contributions as the vehicles' figures.

The refresh keeps them per (meter, vehicle) in meter_vehicle_performance_24h, moved by the same
deltas as the vehicles' sums, and then sums the touched meters' rows into meter_performance_24h:
a meter's vehicles served is the count of its rows, which no running sum could keep as vehicles
leave the window. A meter has one row per kept minute (a kept (meter, minute) has one vehicle),
so its minutes are its contributions counted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from models.efficiency.formula import SUMMED, sums

PAIRS = "meter_vehicle_performance_24h"
METERS = "meter_performance_24h"
_COLUMNS = ", ".join(SUMMED)

# The meters whose pairs changed, summed again from their pairs.
_SUM_TOUCHED = f"""
DELETE FROM {METERS} WHERE meter_id IN (SELECT meter_id FROM deltas);
INSERT INTO {METERS} (meter_id, {_COLUMNS}, minutes, vehicles)
SELECT meter_id, {sums()}, sum(minutes), count(*) FROM {PAIRS}
WHERE meter_id IN (SELECT meter_id FROM deltas) GROUP BY meter_id
"""

# Run by the refresh after the vehicles' deltas (models/efficiency/performance.py, deltas).
APPLY_DELTAS = f"""
INSERT INTO {PAIRS} AS p (meter_id, vehicle_id, {_COLUMNS}, minutes)
SELECT meter_id, vehicle_id, {sums()}, sum(meter_minutes) FROM deltas
GROUP BY meter_id, vehicle_id
ON CONFLICT (meter_id, vehicle_id) DO UPDATE SET
    {", ".join(f"{c} = p.{c} + EXCLUDED.{c}" for c in (*SUMMED, "minutes"))};
DELETE FROM {PAIRS} WHERE minutes <= 0 AND meter_id IN (SELECT meter_id FROM deltas);
{_SUM_TOUCHED}
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

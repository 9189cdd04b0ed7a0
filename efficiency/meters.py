"""A meter's (a charger's) figures: the efficiency rule's sums over the kept minutes of the
vehicles it served, from the same per-minute contributions as the vehicles' figures.

The refresh moves meter_efficiency_24h and, per (meter, vehicle), meter_vehicle_efficiency_24h
by the same deltas as the vehicles' sums: a meter's vehicles served is the count of its pairs,
kept by counting the pairs that appear and empty. A meter has one contribution per kept minute
(a kept (meter, minute) has one vehicle), so its minutes are its contributions counted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from efficiency.formula import SUMMED, sums

PAIRS = "meter_vehicle_efficiency_24h"
METERS = "meter_efficiency_24h"
_COLUMNS = ", ".join(SUMMED)

_PLUS_EXCLUDED = ", ".join(f"{c} = p.{c} + EXCLUDED.{c}" for c in (*SUMMED, "minutes"))

# Run by the refresh after the vehicles' deltas (efficiency/refresh.py, deltas): the
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


# Every running sum, the vehicles' too, from the temporary table window_pairs: a full rebuild's
# sums of the window per (meter, vehicle) (contributions.rebuild_window).
FROM_WINDOW_PAIRS = f"""
DELETE FROM vehicle_efficiency_24h;
INSERT INTO vehicle_efficiency_24h (vehicle_id, {_COLUMNS}, minutes)
SELECT vehicle_id, {sums()}, sum(minutes) FROM window_pairs GROUP BY vehicle_id;
DELETE FROM {PAIRS};
INSERT INTO {PAIRS} (meter_id, vehicle_id, {_COLUMNS}, minutes)
SELECT meter_id, vehicle_id, {_COLUMNS}, meter_minutes FROM window_pairs;
{FROM_PAIRS}
"""


_READ = f"""
SELECT m.meter_id, {", ".join(f"m.{c}" for c in SUMMED)}, m.minutes, m.vehicles,
       w.window_start, w.window_end, w.refreshed_at
FROM {METERS} m CROSS JOIN efficiency_window w
WHERE m.meter_id = :m
"""


def read(conn: Connection, meter_id: str) -> Any:
    """The meter's row of the 24 h table with its window, or None without a kept minute."""
    row = conn.execute(text(_READ), {"m": meter_id}).first()
    return None if row is None else row._mapping

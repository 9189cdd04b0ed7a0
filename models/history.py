"""Writing a micro-batch: history appended once, current state moved only forward.

The caller owns the transaction; nothing here commits. Readings are COPYed into per-connection
staging tables and moved from there with set-based SQL, so the cost per reading is a line of
text in Python and the rest happens inside PostgreSQL.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from models.readings import (
    AT,
    DEVICE,
    KIND,
    METER,
    METER_FIELDS,
    METER_KWH,
    METER_VOLTAGE,
    VEHICLE,
    VEHICLE_FIELDS,
    VEHICLE_KWH,
    VEHICLE_METER,
    VEHICLE_SOC,
    VEHICLE_TEMP,
    Record,
)

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS stage_meter_readings (
    recorded_at timestamptz, meter_id text, kwh numeric, voltage numeric
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_vehicle_readings (
    recorded_at timestamptz, vehicle_id text, meter_id text, kwh numeric, soc numeric,
    battery_temp numeric
) ON COMMIT DELETE ROWS;
"""

# Two different readings with one identity (device, timestamp), a device's fault, are settled by
# their values, not by which arrived first: the one kept is the least (energy first, then the
# other fields in order), in history and current state alike. Arrival order cannot settle it:
# entries are written by several consumers, and one that dies hands its entries to another
# later, so the first received is not always the first written. Values settle it the same way
# in any order, on any consumer, however often each is delivered.
# Rows go in key order so that two workers writing overlapping readings (a redelivery, a
# device's retry) take row locks in the same order and cannot deadlock. The row count is of
# readings new to history and of those that replaced a greater one (rare: a device's fault).
_INSERT_METERS = """
INSERT INTO meter_readings AS h (recorded_at, voltage_hundredths, meter_id, kwh_consumed_ac)
SELECT DISTINCT ON (recorded_at, meter_id) recorded_at, round(voltage * 100), meter_id, kwh
FROM stage_meter_readings ORDER BY recorded_at, meter_id, kwh, round(voltage * 100)
ON CONFLICT (recorded_at, meter_id) DO UPDATE SET
    kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage_hundredths = EXCLUDED.voltage_hundredths
WHERE (EXCLUDED.kwh_consumed_ac, EXCLUDED.voltage_hundredths)
    < (h.kwh_consumed_ac, h.voltage_hundredths)
"""

_INSERT_VEHICLES = """
INSERT INTO vehicle_readings AS h (recorded_at, soc_hundredths, battery_temp_hundredths,
                                   vehicle_id, meter_id, kwh_delivered_dc)
SELECT DISTINCT ON (recorded_at, vehicle_id)
       recorded_at, round(soc * 100), round(battery_temp * 100), vehicle_id, meter_id, kwh
FROM stage_vehicle_readings
ORDER BY recorded_at, vehicle_id, kwh, meter_id, round(soc * 100), round(battery_temp * 100)
ON CONFLICT (recorded_at, vehicle_id) DO UPDATE SET
    kwh_delivered_dc = EXCLUDED.kwh_delivered_dc, meter_id = EXCLUDED.meter_id,
    soc_hundredths = EXCLUDED.soc_hundredths,
    battery_temp_hundredths = EXCLUDED.battery_temp_hundredths
WHERE (EXCLUDED.kwh_delivered_dc, EXCLUDED.meter_id, EXCLUDED.soc_hundredths,
       EXCLUDED.battery_temp_hundredths)
    < (h.kwh_delivered_dc, h.meter_id, h.soc_hundredths, h.battery_temp_hundredths)
"""

# One row per device (the newest in the batch, the least of equals), and only over an older
# stored reading or a greater one of the same moment: late and redelivered readings never move
# current state backwards, and it keeps the reading history keeps.
_UPSERT_METERS = """
INSERT INTO meter_current_state AS s
    (meter_id, recorded_at, kwh_consumed_ac, voltage_hundredths, updated_at)
SELECT DISTINCT ON (meter_id) meter_id, recorded_at, kwh, round(voltage * 100), now()
FROM stage_meter_readings ORDER BY meter_id, recorded_at DESC, kwh, round(voltage * 100)
ON CONFLICT (meter_id) DO UPDATE SET
    recorded_at = EXCLUDED.recorded_at, kwh_consumed_ac = EXCLUDED.kwh_consumed_ac,
    voltage_hundredths = EXCLUDED.voltage_hundredths, updated_at = EXCLUDED.updated_at
WHERE s.recorded_at < EXCLUDED.recorded_at
   OR (s.recorded_at = EXCLUDED.recorded_at
       AND (EXCLUDED.kwh_consumed_ac, EXCLUDED.voltage_hundredths)
           < (s.kwh_consumed_ac, s.voltage_hundredths))
"""

_UPSERT_VEHICLES = """
INSERT INTO vehicle_current_state AS s
    (vehicle_id, meter_id, recorded_at, kwh_delivered_dc, soc_hundredths,
     battery_temp_hundredths, updated_at)
SELECT DISTINCT ON (vehicle_id) vehicle_id, meter_id, recorded_at, kwh, round(soc * 100),
       round(battery_temp * 100), now()
FROM stage_vehicle_readings
ORDER BY vehicle_id, recorded_at DESC, kwh, meter_id, round(soc * 100), round(battery_temp * 100)
ON CONFLICT (vehicle_id) DO UPDATE SET
    meter_id = EXCLUDED.meter_id, recorded_at = EXCLUDED.recorded_at,
    kwh_delivered_dc = EXCLUDED.kwh_delivered_dc, soc_hundredths = EXCLUDED.soc_hundredths,
    battery_temp_hundredths = EXCLUDED.battery_temp_hundredths, updated_at = EXCLUDED.updated_at
WHERE s.recorded_at < EXCLUDED.recorded_at
   OR (s.recorded_at = EXCLUDED.recorded_at
       AND (EXCLUDED.kwh_delivered_dc, EXCLUDED.meter_id, EXCLUDED.soc_hundredths,
            EXCLUDED.battery_temp_hundredths)
           < (s.kwh_delivered_dc, s.meter_id, s.soc_hundredths, s.battery_temp_hundredths))
"""

# Tells the refresh which minutes to recompute. Appended, never updated, so a worker never
# waits for a refresh that is consuming these rows.
_MARK_DIRTY = """
INSERT INTO dirty_minutes (minute)
SELECT DISTINCT date_trunc('minute', recorded_at) FROM (
    SELECT recorded_at FROM stage_meter_readings
    UNION ALL SELECT recorded_at FROM stage_vehicle_readings
) staged
"""


class MalformedRecord(ValueError):
    """A record in the stream that is not a reading (it could only come from outside the API)."""


@dataclass
class WriteResult:
    meters: int = 0
    vehicles: int = 0
    # Readings new to history (or replacing a greater one of the same identity); the rest were
    # already stored (retries, redeliveries).
    inserted: int = 0

    @property
    def duplicates(self) -> int:
        return self.meters + self.vehicles - self.inserted

    def add(self, other: WriteResult) -> None:
        self.meters += other.meters
        self.vehicles += other.vehicles
        self.inserted += other.inserted


def write_batch(conn: Connection, records: Sequence[Record]) -> WriteResult:
    """Store a batch of normalised readings in the caller's transaction."""
    meter_rows, vehicle_rows = _copy_rows(records)
    result = WriteResult(meters=len(meter_rows), vehicles=len(vehicle_rows))
    if not records:
        return result
    meters, vehicles = "".join(meter_rows), "".join(vehicle_rows)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_STAGE)
        if result.meters:
            cursor.copy_expert(
                "COPY stage_meter_readings (recorded_at, meter_id, kwh, voltage) FROM STDIN",
                io.StringIO(meters),
            )
            cursor.execute(_INSERT_METERS)
            result.inserted += cursor.rowcount
            cursor.execute(_UPSERT_METERS)
        if result.vehicles:
            cursor.copy_expert(
                "COPY stage_vehicle_readings (recorded_at, vehicle_id, meter_id, kwh, soc, "
                "battery_temp) FROM STDIN",
                io.StringIO(vehicles),
            )
            cursor.execute(_INSERT_VEHICLES)
            result.inserted += cursor.rowcount
            cursor.execute(_UPSERT_VEHICLES)
        cursor.execute(_MARK_DIRTY)
        # Staging empties at commit; a savepoint that retries part of a batch must start clean.
        cursor.execute("TRUNCATE stage_meter_readings, stage_vehicle_readings")
    finally:
        cursor.close()
    return result


def _copy_rows(records: Iterable[Record]) -> tuple[list[str], list[str]]:
    meters: list[str] = []
    vehicles: list[str] = []
    for record in records:
        try:
            kind = record[KIND]
            if kind == METER and len(record) == METER_FIELDS:
                meters.append(
                    f"{_field(record[AT])}\t{_field(record[DEVICE])}\t"
                    f"{_number(record[METER_KWH])}\t{_number(record[METER_VOLTAGE])}\n"
                )
            elif kind == VEHICLE and len(record) == VEHICLE_FIELDS:
                vehicles.append(
                    f"{_field(record[AT])}\t{_field(record[DEVICE])}\t"
                    f"{_field(record[VEHICLE_METER])}\t{_number(record[VEHICLE_KWH])}\t"
                    f"{_number(record[VEHICLE_SOC])}\t{_number(record[VEHICLE_TEMP])}\n"
                )
            else:
                raise MalformedRecord(f"not a meter or vehicle record: {record!r:.200}")
        except (TypeError, KeyError, IndexError) as exc:
            raise MalformedRecord(f"not a reading: {record!r:.200}") from exc
    return meters, vehicles


def _field(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedRecord(f"expected a string, got {value!r:.100}")
    # IDs are validated at the API to a charset without these; escape anyway so that nothing
    # in a stream entry can ever shift COPY's columns.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")).replace(
            "\r", "\\r"
        )
    return value


def _number(value: Any) -> str:
    if value is True or value is False or not isinstance(value, int | float):
        raise MalformedRecord(f"expected a number, got {value!r:.100}")
    if not math.isfinite(value):
        raise MalformedRecord(f"expected a finite number, got {value!r}")
    return repr(value)

"""The normalised reading that travels from the web tier, through the stream, to the writer.

A compact JSON array rather than an object: the stream holds millions of them and the worker
decodes hundreds of thousands a second. Timestamps are UTC ISO 8601 strings; numbers are exactly
what the device sent (JSON floats round-trip through their shortest representation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

METER = "m"
VEHICLE = "v"

# ["m", recorded_at, meter_id, kwh_consumed_ac, voltage]
# ["v", recorded_at, vehicle_id, meter_id, kwh_delivered_dc, soc, battery_temp]
Record = list[Any]

# Where each field sits in a record: both kinds, then each kind's own.
KIND, AT, DEVICE = 0, 1, 2
METER_KWH, METER_VOLTAGE = 3, 4
METER_FIELDS = 5
VEHICLE_METER, VEHICLE_KWH, VEHICLE_SOC, VEHICLE_TEMP = 3, 4, 5, 6
VEHICLE_FIELDS = 7


def meter_record(meter_id: str, recorded_at: datetime, kwh: float, voltage: float) -> Record:
    return [METER, utc_iso(recorded_at), meter_id, kwh, voltage]


def vehicle_record(
    vehicle_id: str,
    meter_id: str,
    recorded_at: datetime,
    kwh: float,
    soc: float,
    battery_temp: float,
) -> Record:
    return [VEHICLE, utc_iso(recorded_at), vehicle_id, meter_id, kwh, soc, battery_temp]


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def iso_z(moment: datetime) -> str:
    """UTC, ISO 8601 with a Z: how the API writes a moment."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode(records: list[Record]) -> bytes:
    return orjson.dumps(records)


def decode(payload: bytes | str) -> list[Record]:
    records = orjson.loads(payload)
    if not isinstance(records, list):
        raise ValueError("a stream entry must hold a JSON array of readings")
    return records

"""The normalised reading that travels from the web tier, through the stream, to the writer.

A compact JSON array rather than an object: the stream holds millions of them and the worker
decodes hundreds of thousands a second. Timestamps are UTC ISO 8601 strings; numbers are what
validation made of the device's: rounded half-up to the places history keeps (docs/DESIGN.md,
"The wire contract"), so the value queued is the value stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from models.kinds import METER, VEHICLE

# Each kind's layout: its code, the moment, its ID, the IDs it names, its quantities
# (models/kinds.py), e.g. ["v", recorded_at, vehicle_id, meter_id, kwh_delivered_dc, soc,
# battery_temp].
Record = list[Any]

# Where every kind's record holds its code, its moment and its device.
KIND, AT, DEVICE_ID = 0, 1, 2


def meter_record(meter_id: str, recorded_at: datetime, kwh: float, voltage: float) -> Record:
    return [METER.code, utc_iso(recorded_at), meter_id, kwh, voltage]


def vehicle_record(
    vehicle_id: str,
    meter_id: str,
    recorded_at: datetime,
    kwh: float,
    soc: float,
    battery_temp: float,
) -> Record:
    return [VEHICLE.code, utc_iso(recorded_at), vehicle_id, meter_id, kwh, soc, battery_temp]


def meter_register_record(
    meter_id: str, recorded_at: datetime, register: str, voltage: float | None = None
) -> Record:
    """A meter reading carrying its cumulative register (exact decimal text, kWh)."""
    return [METER.code, utc_iso(recorded_at), meter_id, None, voltage, register]


def vehicle_register_record(
    vehicle_id: str,
    meter_id: str,
    recorded_at: datetime,
    register: str,
    soc: float,
    battery_temp: float,
) -> Record:
    """A vehicle reading carrying its battery's cumulative register (exact decimal text, kWh)."""
    return [
        VEHICLE.code,
        utc_iso(recorded_at),
        vehicle_id,
        meter_id,
        None,
        soc,
        battery_temp,
        register,
    ]


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


def minute_of(column: str) -> str:
    """SQL: the UTC minute a moment falls in. date_bin is plain arithmetic; date_trunc on a
    timestamptz goes through the session's time zone, whose minutes need not be UTC's."""
    return f"date_bin('1 minute', {column}, timestamptz 'epoch')"

"""Readings for tests: wire-format dicts and normalised records, with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from readings.records import (
    Record,
    meter_record,
    meter_register_record,
    vehicle_record,
    vehicle_register_record,
)

T0 = datetime(2026, 2, 10, 14, 0, tzinfo=UTC)


def at(minute: float, second: float = 10) -> datetime:
    """A moment `minute` minutes (and `second` seconds) after T0."""
    return T0 + timedelta(minutes=minute, seconds=second)


def meter(
    meter_id: str = "M1",
    timestamp: datetime | str | None = None,
    kwh: Any = 0.5,
    voltage: Any = 230.0,
    **extra: Any,
) -> dict[str, Any]:
    moment = at(0) if timestamp is None else timestamp
    return {
        "meterId": meter_id,
        "kwhConsumedAc": kwh,
        "voltage": voltage,
        "timestamp": moment if isinstance(moment, str) else moment.isoformat(),
        **extra,
    }


def vehicle(
    vehicle_id: str = "V1",
    meter_id: str = "M1",
    timestamp: datetime | str | None = None,
    kwh: Any = 0.45,
    soc: Any = 50.0,
    battery_temp: Any = 30.0,
    **extra: Any,
) -> dict[str, Any]:
    moment = at(0) if timestamp is None else timestamp
    return {
        "vehicleId": vehicle_id,
        "meterId": meter_id,
        "kwhDeliveredDc": kwh,
        "soc": soc,
        "batteryTemp": battery_temp,
        "timestamp": moment if isinstance(moment, str) else moment.isoformat(),
        **extra,
    }


def meter_rec(
    meter_id: str = "M1", when: datetime | None = None, kwh: float = 0.5, voltage: float = 230.0
) -> Record:
    return meter_record(meter_id, when or at(0), kwh, voltage)


def vehicle_rec(
    vehicle_id: str = "V1",
    meter_id: str = "M1",
    when: datetime | None = None,
    kwh: float = 0.45,
    soc: float = 50.0,
    battery_temp: float = 30.0,
) -> Record:
    return vehicle_record(vehicle_id, meter_id, when or at(0), kwh, soc, battery_temp)


def meter_reg(
    meter_id: str = "M1", when: datetime | None = None, register: Any = "100", voltage: Any = None
) -> Record:
    """A meter reading with its cumulative register (kWh, as decimal text or a number)."""
    return meter_register_record(meter_id, when or at(0), _decimal_text(register), voltage)


def vehicle_reg(
    vehicle_id: str = "V1",
    meter_id: str = "M1",
    when: datetime | None = None,
    register: Any = "50",
    soc: float = 50.0,
    battery_temp: float = 30.0,
) -> Record:
    """A vehicle reading with its battery's cumulative register."""
    return vehicle_register_record(
        vehicle_id, meter_id, when or at(0), _decimal_text(register), soc, battery_temp
    )


def _decimal_text(value: Any) -> str:
    """A register as the web tier queues it: fixed-point text with six places."""
    return f"{Decimal(str(value)).quantize(Decimal('0.000001')):f}"

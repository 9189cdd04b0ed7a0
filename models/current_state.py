"""Reading the newest known reading of a device."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from models.readings import iso_z
from models.schema import meter_current_state, vehicle_current_state


def meter(conn: Connection, meter_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(meter_current_state).where(meter_current_state.c.meter_id == meter_id)
    ).first()
    if row is None:
        return None
    return {
        "meterId": row.meter_id,
        "kwhConsumedAc": float(row.kwh_consumed_ac),
        "voltage": _hundredths(row.voltage_hundredths),
        "timestamp": iso_z(row.recorded_at),
        "updatedAt": iso_z(row.updated_at),
    }


def vehicle(conn: Connection, vehicle_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(vehicle_current_state).where(vehicle_current_state.c.vehicle_id == vehicle_id)
    ).first()
    if row is None:
        return None
    return {
        "vehicleId": row.vehicle_id,
        "meterId": row.meter_id,
        "kwhDeliveredDc": float(row.kwh_delivered_dc),
        "soc": _hundredths(row.soc_hundredths),
        "batteryTemp": _hundredths(row.battery_temp_hundredths),
        "timestamp": iso_z(row.recorded_at),
        "updatedAt": iso_z(row.updated_at),
    }


def _hundredths(value: int) -> float:
    return float(Decimal(value) / 100)

"""Reading the newest known reading of a device: its row, or None."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from models.schema import meter_current_state, vehicle_current_state


def meter(conn: Connection, meter_id: str) -> Any:
    row = conn.execute(
        select(meter_current_state).where(meter_current_state.c.meter_id == meter_id)
    ).first()
    return row._mapping if row else None


def vehicle(conn: Connection, vehicle_id: str) -> Any:
    row = conn.execute(
        select(vehicle_current_state).where(vehicle_current_state.c.vehicle_id == vehicle_id)
    ).first()
    return row._mapping if row else None

"""Reading the newest known reading of a device: its row, or None; or only when it was taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from models.kinds import Kind
from models.schema import CURRENT, HISTORY


def newest(conn: Connection, kind: Kind, device_id: str) -> Any:
    """The row, with a register reading's interval as history has derived it: current state
    keeps such a reading as sent, so that a late reading never has to rewrite it
    (readings/registers.py)."""
    table = CURRENT[kind.name]
    row = conn.execute(select(table).where(table.c[kind.id_column] == device_id)).first()
    if row is None:
        return None
    found = dict(row._mapping)
    if kind.register and kind.interval and found[kind.register.column] is not None:
        history = HISTORY[kind.name]
        found[kind.interval.column] = conn.execute(
            select(history.c[kind.interval.column]).where(
                history.c.recorded_at == found["recorded_at"],
                history.c[kind.id_column] == device_id,
            )
        ).scalar()
    return found


def newest_at(conn: Connection, kind: Kind, device_id: str) -> datetime | None:
    """When the device's newest stored reading was taken; None before its first."""
    table = CURRENT[kind.name]
    return conn.execute(
        select(table.c.recorded_at).where(table.c[kind.id_column] == device_id)
    ).scalar()

"""Reading the newest known reading of a device: its row, or None."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from models.kinds import Kind
from models.schema import CURRENT


def newest(conn: Connection, kind: Kind, device_id: str) -> Any:
    table = CURRENT[kind.name]
    row = conn.execute(select(table).where(table.c[kind.id_column] == device_id)).first()
    return row._mapping if row else None

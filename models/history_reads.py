"""One device's raw history, read back in time order, a page at a time (keyset on the reading's
time, which is unique per device), so a month of readings never sits in memory at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

# What each kind's history holds, as the API names it.
_COLUMNS = {
    "meter": (
        "meter_readings",
        "meter_id",
        "recorded_at, kwh_consumed_ac, voltage_hundredths",
    ),
    "vehicle": (
        "vehicle_readings",
        "vehicle_id",
        "recorded_at, meter_id, kwh_delivered_dc, soc_hundredths, battery_temp_hundredths",
    ),
}


def page(
    conn: Connection,
    kind: str,
    device_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: datetime | None = None,
) -> list[Any]:
    """Up to `limit` readings of the device in [start, end) (after `after`, if given), oldest
    first."""
    table, key, columns = _COLUMNS[kind]
    past = "AND recorded_at > :after " if after else ""
    rows = conn.execute(
        text(
            f"SELECT {columns} FROM {table} WHERE {key} = :id AND recorded_at >= :start "
            f"{past}AND recorded_at < :end ORDER BY recorded_at LIMIT :limit"
        ),
        {"id": device_id, "start": start, "end": end, "after": after, "limit": limit},
    ).all()
    return [row._mapping for row in rows]

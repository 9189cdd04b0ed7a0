"""Reads over the refreshed table for many vehicles: the fleet listing, one vehicle by hour.

The listing pages by keyset (the sort value and the vehicle id of the last row), so a page is
as fast at the end of the fleet as at its start and rows never repeat or vanish between pages
of one refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from models.efficiency.formula import ratio_sql, sums

# The listing's fields it sorts by, to SQL over vehicle_performance_24h p; a vehicle with no AC
# has no efficiency and sorts after every vehicle that has one.
SORTS = {
    "chargingEfficiency": f"coalesce({ratio_sql('p')}, 'Infinity'::numeric)",
    "totalAcConsumedKwh": "p.ac_kwh",
    "totalDcDeliveredKwh": "p.dc_kwh",
    "averageSoc": "p.soc_hundredths_sum::numeric / p.readings",
    "averageBatteryTemp": "p.battery_temp_hundredths_sum::numeric / p.readings",
    "minutesCounted": "p.minutes::numeric",
    "readingsCounted": "p.readings::numeric",
    "vehicleId": "NULL::numeric",
}
# Names the listing sorted by before its sort keys were its field names: still accepted.
SORT_ALIASES = {
    "efficiency": "chargingEfficiency",
    "acConsumedKwh": "totalAcConsumedKwh",
    "dcDeliveredKwh": "totalDcDeliveredKwh",
}


@dataclass(frozen=True)
class Page:
    sort: str = "chargingEfficiency"
    descending: bool = False
    limit: int = 100
    max_efficiency: float | None = None
    min_efficiency: float | None = None
    # After this (sort value, vehicle id); the value is None when sorting by vehicle id.
    after: tuple[str | None, str] | None = None


def window(conn: Connection) -> Any:
    """The refreshed window (window_start, window_end, refreshed_at), None before any refresh."""
    return conn.execute(
        text("SELECT window_start, window_end, refreshed_at FROM performance_window")
    ).first()


def listing(conn: Connection, page: Page) -> tuple[list[Any], tuple[str | None, str] | None]:
    """One page of vehicles' rows, and the cursor after its last row (None on the last page)."""
    key = SORTS[page.sort]
    direction, compare = ("DESC", "<") if page.descending else ("ASC", ">")
    where = ["p.readings > 0"]
    params: dict[str, Any] = {"limit": page.limit + 1}
    if page.max_efficiency is not None:
        where.append(f"{ratio_sql('p')} <= :max_eff")
        params["max_eff"] = Decimal(str(page.max_efficiency))
    if page.min_efficiency is not None:
        where.append(f"{ratio_sql('p')} >= :min_eff")
        params["min_eff"] = Decimal(str(page.min_efficiency))
    if page.after is not None:
        value, vehicle_id = page.after
        params["after_id"] = vehicle_id
        if page.sort == "vehicleId":
            where.append(f"p.vehicle_id {compare} :after_id")
        else:
            params["after_value"] = Decimal(value or "0")
            where.append(
                f"({key}, p.vehicle_id) {compare} (CAST(:after_value AS numeric), :after_id)"
            )
    rows = conn.execute(
        text(
            f"SELECT p.*, {key} AS sort_value, w.window_start, w.window_end, w.refreshed_at "
            "FROM vehicle_performance_24h p CROSS JOIN performance_window w "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY {key} {direction}, p.vehicle_id {direction} LIMIT :limit"
        ),
        params,
    ).all()
    items = [row._mapping for row in rows[: page.limit]]
    if len(rows) <= page.limit:
        return items, None
    last = rows[page.limit - 1]
    value = None if last.sort_value is None else str(last.sort_value)
    return items, (value, last.vehicle_id)


def hourly(conn: Connection, vehicle_id: str) -> list[Any]:
    """The vehicle's kept minutes in the current window, summed by hour (`start`)."""
    return _summed_by(conn, vehicle_id, "1 hour", "w.window_start", {})


def daily(conn: Connection, vehicle_id: str, days: int) -> list[Any]:
    """The vehicle's kept minutes summed by UTC day (`start`), over the `days` days that end
    with the day of the last refreshed minute (that one cut at the refresh)."""
    last_day = "date_bin('1 day', w.window_end - interval '1 microsecond', timestamptz 'epoch')"
    since = f"{last_day} - make_interval(days => :days - 1)"
    return _summed_by(conn, vehicle_id, "1 day", since, {"days": days})


def _summed_by(
    conn: Connection, vehicle_id: str, width: str, since: str, params: dict[str, Any]
) -> list[Any]:
    rows = conn.execute(
        text(
            # Periods since the epoch, in UTC whatever the session's zone.
            f"SELECT date_bin('{width}', c.minute, timestamptz 'epoch') AS start, "
            f"{sums('c')}, count(*) AS minutes "
            "FROM vehicle_minute_contributions c, performance_window w "
            f"WHERE c.vehicle_id = :v AND c.minute >= {since} AND c.minute < w.window_end "
            "AND c.readings > 0 GROUP BY 1 ORDER BY 1"
        ),
        {"v": vehicle_id, **params},
    ).all()
    return [row._mapping for row in rows]


def health(conn: Connection, below: float) -> tuple[float, int, int]:
    """Seconds since the last refresh (NaN before one), vehicles in the table, and how many of
    them charge at an efficiency under `below`."""
    row = conn.execute(
        text(
            "SELECT extract(epoch FROM now() - refreshed_at), count(p.vehicle_id), "
            f"count(p.vehicle_id) FILTER (WHERE {ratio_sql('p')} < :below) "
            "FROM performance_window LEFT JOIN vehicle_performance_24h p ON p.readings > 0 "
            "GROUP BY refreshed_at"
        ),
        {"below": Decimal(str(below))},
    ).first()
    return (float(row[0]), int(row[1]), int(row[2])) if row else (float("nan"), 0, 0)

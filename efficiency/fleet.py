"""Reads over the refreshed table for many vehicles: the fleet listing, one vehicle by hour.

The listing pages by keyset (the sort value and the vehicle id of the last row), so a page is
as fast at the end of the fleet as at its start and rows never repeat or vanish between pages
of one refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from efficiency import rollups
from efficiency.formula import ratio_sql, sums

# The listings' fields they sort by, to SQL over a table of 24 h sums p; a device with no AC
# has no efficiency and sorts after every one that has one.
_SORTS = {
    "chargingEfficiency": f"coalesce({ratio_sql('p')}, 'Infinity'::numeric)",
    "totalAcConsumedKwh": "p.ac_kwh",
    "totalDcDeliveredKwh": "p.dc_kwh",
    "minutesCounted": "p.minutes::numeric",
    "readingsCounted": "p.readings::numeric",
    "suspectMinutes": "p.suspect_minutes::numeric",
}
# Names the listing sorted by before its sort keys were its field names: still accepted.
SORT_ALIASES = {
    "efficiency": "chargingEfficiency",
    "acConsumedKwh": "totalAcConsumedKwh",
    "dcDeliveredKwh": "totalDcDeliveredKwh",
}


@dataclass(frozen=True)
class Subject:
    """What a listing or a breakdown is of: vehicles or meters."""

    table: str
    id_column: str
    # The id's name on the wire, also the sort key that sorts by it.
    id_wire: str
    sorts: dict[str, str]
    # SQL over contributions c (rollups.contributions_of): the subject's minutes counted
    # (docs/DESIGN.md, "Chargers").
    minutes: str


VEHICLES = Subject(
    "vehicle_efficiency_24h",
    "vehicle_id",
    "vehicleId",
    {
        **_SORTS,
        "averageSoc": "p.soc_hundredths_sum::numeric / p.readings",
        "averageBatteryTemp": "p.battery_temp_hundredths_sum::numeric / p.readings",
        "vehicleId": "NULL::numeric",
    },
    "sum(c.minutes)",
)
METERS = Subject(
    "meter_efficiency_24h",
    "meter_id",
    "meterId",
    {**_SORTS, "vehiclesServed": "p.vehicles::numeric", "meterId": "NULL::numeric"},
    "sum(c.meter_minutes)",
)
SORTS = VEHICLES.sorts


@dataclass(frozen=True)
class Page:
    subject: Subject = VEHICLES
    sort: str = "chargingEfficiency"
    descending: bool = False
    # None: every row (LIMIT NULL), for a CSV export.
    limit: int | None = 100
    max_efficiency: float | None = None
    min_efficiency: float | None = None
    # After this (sort value, device id); the value is None when sorting by the id.
    after: tuple[str | None, str] | None = None


def window(conn: Connection) -> Any:
    """The refreshed window (window_start, window_end, refreshed_at), None before any refresh."""
    return conn.execute(
        text("SELECT window_start, window_end, refreshed_at FROM efficiency_window")
    ).first()


def listing(conn: Connection, page: Page) -> tuple[list[Any], tuple[str | None, str] | None]:
    """One page of rows, and the cursor after its last row (None on the last page)."""
    subject = page.subject
    key, id_ = subject.sorts[page.sort], f"p.{subject.id_column}"
    direction, compare = ("DESC", "<") if page.descending else ("ASC", ">")
    where = ["p.readings > 0"]
    params: dict[str, Any] = {"limit": None if page.limit is None else page.limit + 1}
    # Each bound also on the sort expression, which the meters' index holds: a page of chargers
    # above some efficiency starts where the index reaches it instead of filtering up to it.
    by_efficiency = subject.sorts["chargingEfficiency"]
    if page.max_efficiency is not None:
        where.append(f"{ratio_sql('p')} <= :max_eff AND {by_efficiency} <= :max_eff")
        params["max_eff"] = Decimal(str(page.max_efficiency))
    if page.min_efficiency is not None:
        where.append(f"{ratio_sql('p')} >= :min_eff AND {by_efficiency} >= :min_eff")
        params["min_eff"] = Decimal(str(page.min_efficiency))
    if page.after is not None:
        value, params["after_id"] = page.after
        if page.sort == subject.id_wire:
            where.append(f"{id_} {compare} :after_id")
        else:
            # As text, cast by PostgreSQL: psycopg2 sends Decimal('Infinity'), what a row with no
            # efficiency sorts by, as NaN, which sorts after it and every page would be wrong.
            params["after_value"] = value or "0"
            where.append(f"({key}, {id_}) {compare} (CAST(:after_value AS numeric), :after_id)")
    rows = conn.execute(
        text(
            f"SELECT p.*, {key} AS sort_value, w.window_start, w.window_end, w.refreshed_at "
            f"FROM {subject.table} p CROSS JOIN efficiency_window w "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY {key} {direction}, {id_} {direction} LIMIT :limit"
        ),
        params,
    ).all()
    items = [row._mapping for row in rows[: page.limit]]
    if page.limit is None or len(rows) <= page.limit:
        return items, None
    last = rows[page.limit - 1]
    value = None if last.sort_value is None else str(last.sort_value)
    return items, (value, getattr(last, subject.id_column))


def read_window(
    conn: Connection, device_id: str, start: datetime, end: datetime, subject: Subject
) -> Any:
    """The device's sums over the minutes starting in [start, end): its whole hours from the
    rollups, the rest from the same per-minute contributions the 24 h tables sum; only minutes
    refreshed so far (window_end says up to where). None before any refresh or without a kept
    minute there."""
    refreshed = window(conn)
    if refreshed is None:
        return None
    row = conn.execute(
        text(
            f"SELECT {sums('c')}, {subject.minutes} AS minutes, "
            "count(DISTINCT c.vehicle_id) AS vehicles "
            f"FROM {rollups.contributions_of(subject.id_column)} c"
        ),
        {"d": device_id, "lo": start, "hi": min(end, refreshed.window_end)},
    ).one()
    if not row.readings:
        return None
    return {
        subject.id_column: device_id,
        **row._mapping,
        "window_start": start,
        "refreshed_end": refreshed.window_end,
        "refreshed_at": refreshed.refreshed_at,
        "window_end": min(end, refreshed.window_end),
    }


def hourly(conn: Connection, device_id: str, subject: Subject = VEHICLES) -> list[Any]:
    """The device's kept minutes in the current window, summed by hour (`start`)."""
    refreshed = window(conn)
    if refreshed is None:
        return []
    return _summed_by(conn, subject, device_id, "1 hour", refreshed.window_start, refreshed)


def daily(conn: Connection, device_id: str, days: int, subject: Subject = VEHICLES) -> list[Any]:
    """The device's kept minutes summed by UTC day (`start`), over the `days` days that end
    with the day of the last refreshed minute (that one cut at the refresh); days whose minutes
    are past RETENTION_DAYS come from the hourly rollups."""
    refreshed = window(conn)
    if refreshed is None:
        return []
    last = refreshed.window_end - timedelta(microseconds=1)
    last_day = datetime.combine(last.astimezone(UTC).date(), time(), UTC)
    return _summed_by(
        conn, subject, device_id, "1 day", last_day - timedelta(days=days - 1), refreshed
    )


def _summed_by(
    conn: Connection,
    subject: Subject,
    device_id: str,
    width: str,
    since: datetime,
    refreshed: Any,
) -> list[Any]:
    rows = conn.execute(
        text(
            # Periods since the epoch, in UTC whatever the session's zone.
            f"SELECT date_bin('{width}', c.minute, timestamptz 'epoch') AS start, "
            f"{sums('c')}, {subject.minutes} AS minutes, "
            "count(DISTINCT c.vehicle_id) AS vehicles "
            f"FROM {rollups.contributions_of(subject.id_column)} c GROUP BY 1 ORDER BY 1"
        ),
        {"d": device_id, "lo": since, "hi": refreshed.window_end},
    ).all()
    return [row._mapping for row in rows]


@dataclass(frozen=True)
class Health:
    # Seconds since the last refresh; NaN before one.
    age_seconds: float = float("nan")
    vehicles: int = 0
    vehicles_below: int = 0
    meters: int = 0
    meters_below: int = 0
    # Kept (meter, minute)s of the window where DC exceeds AC.
    suspect_minutes: int = 0
    # Chargers the last check found failing (efficiency/alerts.py).
    failing_chargers: int = 0


_BELOW = f"count(*) FILTER (WHERE {ratio_sql('p')} < :below)"
_HEALTH = f"""
SELECT extract(epoch FROM now() - w.refreshed_at) AS age_seconds, v.*, m.*,
       (SELECT count(*) FROM failing_chargers) AS failing_chargers
FROM efficiency_window w,
LATERAL (SELECT count(*) AS vehicles, {_BELOW} AS vehicles_below,
                coalesce(sum(p.suspect_minutes), 0) AS suspect_minutes
         FROM vehicle_efficiency_24h p WHERE p.readings > 0) v,
LATERAL (SELECT count(*) AS meters, {_BELOW} AS meters_below FROM meter_efficiency_24h p) m
"""


def health(conn: Connection, below: float) -> Health:
    """The refresh's age, and the vehicles and meters in the 24 h tables: how many, how many
    charge at an efficiency under `below`, and the suspect minutes among them."""
    row = conn.execute(text(_HEALTH), {"below": Decimal(str(below))}).first()
    if row is None:
        return Health()
    values = row._mapping
    return Health(float(values["age_seconds"]), **{k: int(values[k]) for k in _COUNTS})


_COUNTS = (
    "vehicles",
    "vehicles_below",
    "meters",
    "meters_below",
    "suspect_minutes",
    "failing_chargers",
)


# Upper bounds of the efficiency distribution's buckets (a histogram's `le`), the last +Inf.
EFFICIENCY_BOUNDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)


def efficiency_distribution(conn: Connection) -> dict[str, list[int]]:
    """Per subject (vehicles, meters): how many in the 24 h table charge at an efficiency at or
    under each of EFFICIENCY_BOUNDS, then how many have one at all (cumulative, as a histogram's
    buckets); a device with no AC has none."""
    counts = ", ".join(
        f"count(*) FILTER (WHERE {ratio_sql('p')} <= {bound})" for bound in EFFICIENCY_BOUNDS
    )
    out = {}
    for name, table in (("vehicles", VEHICLES.table), ("meters", METERS.table)):
        row = conn.execute(
            text(f"SELECT {counts}, count({ratio_sql('p')}) FROM {table} p WHERE p.readings > 0")
        ).one()
        out[name] = [int(value) for value in row]
    return out

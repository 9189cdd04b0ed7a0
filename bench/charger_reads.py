"""A charger's reads, the chargers' listing and a vehicle's month of sessions, measured side by
side with a vehicle's reads, on one stack (issue targets: docs/PERFORMANCE.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench import data, load
from bench.stack import ANALYST_TOKEN, Service

# Vehicles with a month of sessions (four a day, each an hour of contributions): what one read
# touches is a vehicle's month, whatever the fleet's size.
MONTH_VEHICLES = 200


@dataclass(frozen=True)
class Read:
    name: str
    # A path whose %05d is a random number under `count`.
    path: str
    count: int
    connections: int
    # Milliseconds each connection waits after an answer: 16 and 6 offer about 2,100 requests a
    # second (the fleet's dashboards at once); 4 and 20 about 200 (a busy analysts' team).
    pause_ms: int
    # Read everything once at full speed first: the figures are then a steady state's, each
    # answer already in the web processes' memory, not the first read after a refresh.
    warm: bool = False


def reads(vehicles: int, month: str) -> list[Read]:
    listing = "/v1/analytics/meters?limit=100&sort=chargingEfficiency"
    sessions = f"/v1/vehicles/V%05d/sessions?{month}"
    return [
        Read("vehicle", "/v1/analytics/performance/V%05d", vehicles, 16, 6, warm=True),
        Read("meter", "/v1/analytics/meters/M%05d", vehicles, 16, 6, warm=True),
        Read("meter_listing", listing, 1, 16, 6),
        # A different page each time (the least efficiency filtered on), built from the table.
        Read("meter_listing_filtered", f"{listing}&minEfficiency=0.8%05d", 100_000, 4, 20),
        Read("vehicle_month_of_sessions", sessions, MONTH_VEHICLES, 16, 6),
        Read("vehicle_month_of_sessions_team", sessions, MONTH_VEHICLES, 4, 20),
    ]


def run(service: Service, seconds: int, vehicles: int) -> dict[str, Any]:
    service.reset()
    with service.engine().begin() as conn:
        conn.execute(text(data.PERFORMANCE_ROWS), {"n": vehicles})
        conn.execute(text(data.METER_ROWS), {"n": vehicles})
        conn.execute(text(data.PERFORMANCE_WINDOW))
        conn.execute(text(data.MONTH_OF_SESSIONS), {"n": MONTH_VEHICLES})
        conn.execute(text(data.MONTH_OF_CONTRIBUTIONS))
    now = datetime.now(UTC)
    month = f"from={(now - timedelta(days=31)):%Y-%m-%dT%H:%M:%SZ}&to={now:%Y-%m-%dT%H:%M:%SZ}"
    out: dict[str, Any] = {}
    with service.running("charger-reads") as stack:
        for read in reads(vehicles, month):
            at = (stack.url, ANALYST_TOKEN, seconds)
            if read.warm:
                load.wrk_reads(*at, 16, service.work_dir, read.count, 0, read.path)
            result = load.wrk_reads(
                *at, read.connections, service.work_dir, read.count, read.pause_ms, read.path
            )
            out[read.name] = vars(result) | {
                "connections": read.connections,
                "pause_ms": read.pause_ms,
                "warm": read.warm,
            }
    return out

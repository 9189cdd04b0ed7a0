"""A charger's reads, the chargers' listing and a vehicle's month of sessions, measured side by
side with a vehicle's reads, on one stack (issue targets: docs/PERFORMANCE.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench import data, load
from bench.stack import ANALYST_TOKEN, Service

# Vehicles with a month of sessions (four a day, each an hour of contributions): what one read
# touches is a vehicle's month, whatever the fleet's size.
MONTH_VEHICLES = 200
# 16 connections pausing 6 ms after each answer: about 2,100 requests a second.
PAUSE_MS = 6


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
    reads = {
        "vehicle": ("/v1/analytics/performance/V%05d", vehicles),
        "meter": ("/v1/analytics/meters/M%05d", vehicles),
        "meter_listing": ("/v1/analytics/meters?limit=100&sort=chargingEfficiency", 1),
        "vehicle_month_of_sessions": (f"/v1/vehicles/V%05d/sessions?{month}", MONTH_VEHICLES),
    }
    out: dict[str, Any] = {}
    with service.running("charger-reads") as stack:
        for name, (path, count) in reads.items():
            result = load.wrk_reads(
                stack.url, ANALYST_TOKEN, seconds, 16, service.work_dir, count, PAUSE_MS, path
            )
            out[name] = vars(result)
    return out

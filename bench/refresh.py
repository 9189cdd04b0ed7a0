"""The refresh at a fleet's scale: a full rebuild over hours of history, then the steady state,
one more minute at a time; and what history costs on disk."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench import data
from bench.stack import Service
from efficiency import refresh
from storage.db import make_engine


def at_scale(
    service: Service,
    vehicles: int,
    hours: float,
    steps: int = 3,
    builders: tuple[int, ...] = (),
) -> dict:
    """Full rebuild over `hours` of history, then the steady state: one more minute each time.
    With `builders`, the full rebuild again on the same history with each of those many builder
    connections (REBUILD_BUILDERS), for docs/SCALING.md."""
    service.reset()
    engine = service.engine()
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    start = end - timedelta(minutes=round(hours * 60))
    loaded = time.monotonic()
    rows = data.load_history(engine, start, end, vehicles)
    load_seconds = time.monotonic() - loaded
    storage = table_bytes(engine, ("meter_readings", "vehicle_readings"))
    with engine.begin() as conn:
        full = refresh.refresh(conn, end, full=True, engine=engine)
    assert full is not None
    by_builders = {}
    for count in builders:
        # The refresh's own connection and one per builder, as `refresh-performance` sizes it.
        sized = make_engine(service.settings(), pool_size=1 + count, application_name="ev-bench")
        with sized.begin() as conn:
            again = refresh.refresh(conn, end, full=True, engine=sized, builders=count)
        sized.dispose()
        assert again is not None
        by_builders[count] = again.seconds
        print(f"    full rebuild, {count} builder(s): {again.seconds:.1f} s", flush=True)
    steady = []
    for step in range(steps):
        minute = end + timedelta(minutes=step)
        data.load_history(engine, minute, minute + timedelta(minutes=1), vehicles, dirty=True)
        with engine.begin() as conn:
            result = refresh.refresh(conn, minute + timedelta(minutes=1))
        assert result is not None
        assert result.mode == "incremental"
        steady.append(result.seconds)
    return {
        "hours": hours,
        "history_rows": rows,
        "load_seconds": load_seconds,
        "full_rebuild_seconds": full.seconds,
        "full_rebuild_seconds_by_builders": by_builders,
        "steady_refresh_seconds": statistics.median(steady),
        "vehicles_served": full.vehicles,
        "storage": storage,
    }


def table_bytes(engine: Any, tables: tuple[str, ...]) -> dict[str, Any]:
    """What each partitioned table's rows cost on disk (its partitions with their indexes)."""
    out = {}
    with engine.connect() as conn:
        for table in tables:
            size, rows = conn.execute(
                text(
                    "SELECT sum(pg_total_relation_size(i.inhrelid)), "
                    f"(SELECT count(*) FROM {table}) FROM pg_inherits i "
                    "WHERE i.inhparent = CAST(:t AS regclass)"
                ),
                {"t": table},
            ).one()
            per_reading = int(size) / max(1, int(rows))
            out[table] = {"bytes": int(size), "rows": int(rows), "bytes_per_reading": per_reading}
    return out

"""Packed history at the bench fleet's scale: a day of every device's readings, what a reading
costs on disk unpacked and packed, how long packing the day takes, and one device's day read
both ways (readings/packed.py)."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench import data
from bench.refresh import table_bytes
from bench.stack import Service
from models.kinds import KINDS, METER, VEHICLE
from readings import history, packed
from storage import partitions

READS = 40


def run(service: Service, vehicles: int, hours: float = 24) -> dict[str, Any]:
    service.reset()
    engine = service.engine()
    # A closed day, four days back: packed by the job with PACK_AFTER_DAYS 2.
    day = (datetime.now(UTC) - timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)
    partitions.maintain(engine, days_ahead=1, retention_days=7, days_back=6)
    rows = data.load_history(engine, day, day + timedelta(hours=hours), vehicles)
    with engine.begin() as conn:
        # History's reads stop at each device's current state (readings/history.py).
        for kind in KINDS:
            required = [q.column for q in kind.quantities if not kind.nullable(q)]
            columns = [kind.id_column, *kind.ref_columns, "recorded_at", *required, "updated_at"]
            values = [kind.id_column, *("'M'" for _ in kind.ref_columns), "now()"]
            values += ["1" for _ in required] + ["now()"]
            conn.execute(
                text(
                    f"INSERT INTO {kind.current_table} ({', '.join(columns)}) "
                    f"SELECT DISTINCT {', '.join(values)} FROM {kind.history_table}"
                )
            )
    unpacked = table_bytes(engine, tuple(k.history_table for k in KINDS))
    devices = _sample(vehicles)
    window = (day, day + timedelta(days=1))
    before, unpacked_ms = _reads(engine, devices, window)

    started = time.monotonic()
    result = packed.pack(engine, pack_after_days=2)
    pack_seconds = time.monotonic() - started
    after, packed_ms = _reads(engine, devices, window)
    assert after == before, "a device's day read differently once packed"
    packed_bytes = {}
    with engine.connect() as conn:
        for kind in KINDS:
            table = f"packed_{kind.history_table}"
            size, count = conn.execute(
                text(
                    f"SELECT pg_total_relation_size('{table}'), coalesce(sum(readings), 0) "
                    f"FROM {table}"
                )
            ).one()
            packed_bytes[kind.history_table] = {
                "bytes": int(size),
                "rows": int(count),
                "bytes_per_reading": int(size) / max(1, int(count)),
            }
    left = table_bytes(engine, tuple(k.history_table for k in KINDS))
    return {
        "vehicles": vehicles,
        "hours": hours,
        "readings": rows,
        "unpacked": unpacked,
        "packed": packed_bytes,
        "partitions_after_packing_bytes": sum(t["bytes"] for t in left.values()),
        "pack_seconds": pack_seconds,
        "packed_readings": result.readings,
        "device_day_read_ms_unpacked": unpacked_ms,
        "device_day_read_ms_packed": packed_ms,
        "readings_per_device_day": statistics.median(len(rows) for rows in after),
    }


def _sample(vehicles: int) -> list[tuple[Any, str]]:
    rng = random.Random(7)  # noqa: S311 - a sample of devices, not a secret
    picks = rng.sample(range(vehicles), min(READS // 2, vehicles))
    return [(METER, f"M{i:05d}") for i in picks] + [(VEHICLE, f"V{i:05d}") for i in picks]


def _reads(
    engine: Any, devices: list[tuple[Any, str]], window: tuple[datetime, datetime]
) -> tuple[list[list[tuple]], dict[str, float]]:
    """Each device's whole day in one page, as `GET .../readings?limit=2000` reads it: the
    readings each returned, and the read's milliseconds (median, 95th percentile, most)."""
    counts: list[list[tuple]] = []
    times: list[float] = []
    with engine.connect() as conn:
        for kind, device in devices:
            started = time.perf_counter()
            rows = history.page(conn, kind, device, *window, limit=2000)
            times.append((time.perf_counter() - started) * 1000)
            counts.append([tuple(row.values()) for row in rows])
            conn.rollback()
    times.sort()
    return counts, {
        "median": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "max": times[-1],
    }

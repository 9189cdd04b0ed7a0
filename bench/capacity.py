"""`python -m bench --capacity`: what one of each part carries on its own, for docs/SCALING.md.

- Redis: readings/s one client queues with the add script (entries of 500; single readings),
  and the same from `clients` processes at once (the server's own limit, nearer), each with the
  Redis server's CPU per reading (its INFO cpu, before and after): Redis runs commands on one
  thread, so one core over the CPU a reading costs it, adding and draining, is its ceiling.
- One consumer: readings/s one stream consumer (the worker's code, in this process) commits
  from a stream filled beforehand, arrays of 500 and single-reading entries.
- PostgreSQL: COPY of the same readings into history-shaped tables (the bench's limit).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.stack import PREFIX, Service
from buffer.stream import IngestStream
from readings.records import meter_record
from storage.redis_client import connect
from workers.consumer import Consumer

BOUND = 50_000_000


def _records(n: int, offset: int = 0) -> list[list[Any]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=12)
    return [
        meter_record(
            f"C{(offset + i) % 10_000:05d}",
            start + timedelta(seconds=(offset + i) // 10_000),
            0.5,
            230.0,
        )
        for i in range(n)
    ]


def _add_for(redis_url: str, per_request: int, seconds: float, offset: int) -> int:
    stream = IngestStream(connect(redis_url, 5), PREFIX)
    body = _records(per_request, offset)
    added, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        stream.add(body, BOUND)
        added += per_request
    return added


def redis_cpu_seconds(service: Service) -> float:
    """The Redis server's CPU time so far (user + system), from INFO cpu."""
    info = connect(service.redis_url, 5).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_add(
    service: Service, per_request: int, clients: int, seconds: float
) -> tuple[float, float]:
    """Readings/s queued, and the Redis server's CPU µs per reading queued."""
    service.reset()
    args = [(service.redis_url, per_request, seconds, k * 1000) for k in range(clients)]
    cpu = redis_cpu_seconds(service)
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        added = sum(pool.starmap(_add_for, args))
    return added / seconds, (redis_cpu_seconds(service) - cpu) / added * 1e6


def consumer_drain(service: Service, per_entry: int, readings: int) -> tuple[float, float]:
    """Readings/s one consumer commits, and the Redis server's CPU µs per reading drained (the
    group's reads, acknowledgements and counters)."""
    service.reset()
    stream = IngestStream(connect(service.redis_url, 5, block_ms=1000), PREFIX)
    records = _records(readings)
    for start in range(0, readings, per_entry):
        stream.add(records[start : start + per_entry], BOUND)
    stop = threading.Event()
    consumer = Consumer("capacity#0", stream, service.engine(), service.settings())
    thread = threading.Thread(target=consumer.run, args=(stop,))
    cpu = redis_cpu_seconds(service)
    started = time.monotonic()
    thread.start()
    while stream.backlog() > 0:
        time.sleep(0.02)
    seconds = time.monotonic() - started
    redis_cpu = redis_cpu_seconds(service) - cpu
    stop.set()
    thread.join(30)
    assert service.stored() == readings
    return readings / seconds, redis_cpu / readings * 1e6


def run(service: Service, seconds: float, clients: int, readings: int) -> dict[str, Any]:
    """`readings`: how many one consumer drains (arrays); a seventh of it as single readings.
    Each figure: readings/s, and the Redis server's CPU µs per reading in that run."""
    measured = {
        "redis_add_one_client_arrays_of_500": redis_add(service, 500, 1, seconds),
        "redis_add_one_client_single": redis_add(service, 1, 1, seconds),
        f"redis_add_{clients}_clients_arrays_of_500": redis_add(service, 500, clients, seconds),
        f"redis_add_{clients}_clients_single": redis_add(service, 1, clients, seconds),
        "consumer_arrays_of_500": consumer_drain(service, 500, readings),
        "consumer_single": consumer_drain(service, 1, max(1, readings // 7)),
    }
    service.reset()
    out: dict[str, Any] = {}
    for key, (rate, cpu_us) in measured.items():
        out[key], out[f"{key}_redis_cpu_us"] = rate, cpu_us
        print(f"    {key}: {rate:,.0f} readings/s, Redis {cpu_us:.2f} µs CPU/reading", flush=True)
    # One Redis core over what a reading costs it end to end (queued, then drained), by shape.
    for shape, add, drain in (
        ("arrays_of_500", f"redis_add_{clients}_clients_arrays_of_500", "consumer_arrays_of_500"),
        ("single", f"redis_add_{clients}_clients_single", "consumer_single"),
    ):
        # At a tiny size the server's CPU clock may not have moved: never below its resolution.
        per_reading = max(out[f"{add}_redis_cpu_us"] + out[f"{drain}_redis_cpu_us"], 1e-3)
        out[f"redis_ceiling_{shape}"] = 1e6 / per_reading
        print(
            f"    one Redis core, {shape}: {per_reading:.2f} µs a reading queued and drained, "
            f"ceiling {1e6 / per_reading:,.0f} readings/s",
            flush=True,
        )
    return out

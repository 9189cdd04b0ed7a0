"""`python -m bench --capacity`: what one of each part carries on its own, for docs/SCALING.md.

- Redis: readings/s one client queues with the add script (entries of 500; single readings),
  and the same from `clients` processes at once (the server's own limit, nearer).
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
from models.readings import meter_record
from models.redis_client import connect
from models.stream import IngestStream
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


def redis_add(service: Service, per_request: int, clients: int, seconds: float) -> float:
    service.reset()
    args = [(service.redis_url, per_request, seconds, k * 1000) for k in range(clients)]
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        return sum(pool.starmap(_add_for, args)) / seconds


def consumer_drain(service: Service, per_entry: int, readings: int) -> float:
    service.reset()
    stream = IngestStream(connect(service.redis_url, 5, block_ms=1000), PREFIX)
    records = _records(readings)
    for start in range(0, readings, per_entry):
        stream.add(records[start : start + per_entry], BOUND)
    stop = threading.Event()
    consumer = Consumer("capacity#0", stream, service.engine(), service.settings())
    thread = threading.Thread(target=consumer.run, args=(stop,))
    started = time.monotonic()
    thread.start()
    while stream.backlog() > 0:
        time.sleep(0.02)
    seconds = time.monotonic() - started
    stop.set()
    thread.join(30)
    assert service.stored() == readings
    return readings / seconds


def run(service: Service, seconds: float, clients: int, readings: int) -> dict[str, Any]:
    """`readings`: how many one consumer drains (arrays); a seventh of it as single readings."""
    out = {
        "redis_add_one_client_arrays_of_500": redis_add(service, 500, 1, seconds),
        "redis_add_one_client_single": redis_add(service, 1, 1, seconds),
        f"redis_add_{clients}_clients_arrays_of_500": redis_add(service, 500, clients, seconds),
        f"redis_add_{clients}_clients_single": redis_add(service, 1, clients, seconds),
        "consumer_arrays_of_500": consumer_drain(service, 500, readings),
        "consumer_single": consumer_drain(service, 1, max(1, readings // 7)),
    }
    service.reset()
    for key, value in out.items():
        print(f"    {key}: {value:,.0f} readings/s", flush=True)
    return out

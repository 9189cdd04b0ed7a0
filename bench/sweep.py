"""`python -m bench --sweep`: batched and single-record ingest over a grid of web processes x
worker concurrency x the cores both are confined to (taskset), printed as one table.

The grid comes from the cores this process may use, so the same command fits 2, 16 or 64 cores:
core counts 1, 2, 4, ... up to all of them; at each, web processes and worker concurrency of
half and all of that count. The load (Python clients, wrk) runs on the cores left over, or on
all of them when none are. PostgreSQL and Redis are not confined: they are the servers' own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import load
from bench.report import keep_table
from bench.stack import DEVICE_TOKEN, Service


def core_counts(available: int) -> list[int]:
    counts, k = [], 1
    while k < available:
        counts.append(k)
        k *= 2
    return [*counts, available]


def grid(available: int) -> Iterator[tuple[int, int, int]]:
    """(cores, web processes, worker concurrency)."""
    for cores in core_counts(available):
        sizes = sorted({max(1, cores // 2), cores})
        for web in sizes:
            for workers in sizes:
                yield cores, web, workers


def _cpu_list(cpus: list[int]) -> str:
    return ",".join(str(c) for c in cpus)


def measure(
    service: Service,
    bodies: list[bytes],
    cores: int,
    web: int,
    workers: int,
    seconds: int,
    clients: int,
    devices: int,
) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    mine, rest = cpus[:cores], cpus[cores:] or cpus
    service.reset()
    name = f"sweep-k{cores}-w{web}-c{workers}"
    with service.running(
        name,
        wrap=["taskset", "-c", _cpu_list(mine)],
        WEB_CONCURRENCY=web,
        WORKER_CONCURRENCY=workers,
    ) as stack:
        before = service.stored()
        started = time.monotonic()
        sent = load.post_bodies(stack.url, DEVICE_TOKEN, bodies, clients, seconds, cpus=rest)
        elapsed = time.monotonic() - started
        committed = service.stored() - before
        service.wait_drained()
        single = load.wrk_ingest(
            stack.url, DEVICE_TOKEN, seconds, 16, service.work_dir, devices, cpus=rest
        )
        service.wait_drained()
    return {
        "cores": cores,
        "service_cpus": _cpu_list(mine),
        "load_cpus": _cpu_list(rest),
        "web_processes": web,
        "worker_concurrency": workers,
        "batched_accepted_per_s": sent.accepted / elapsed,
        "batched_committed_per_s": committed / elapsed,
        "batched_statuses": {str(k): v for k, v in sent.statuses.items()},
        "single_requests_per_s": single.requests_per_s,
        "single_p99_ms": single.p99_ms,
        "single_errors": single.errors,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| cores | web processes | worker concurrency | batched accepted/s | batched committed/s "
        "| single req/s | single p99 ms | per core (single) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['cores']} | {r['web_processes']} | {r['worker_concurrency']} "
            f"| {r['batched_accepted_per_s']:,.0f} | {r['batched_committed_per_s']:,.0f} "
            f"| {r['single_requests_per_s']:,.0f} | {r['single_p99_ms']:.1f} "
            f"| {r['single_requests_per_s'] / r['cores']:,.0f} |"
        )
    return "\n".join(lines)


def run(
    service: Service,
    bodies: list[bytes],
    seconds: int,
    clients: int,
    devices: int,
    out_dir: Path,
    command: str,
    max_cores: int | None = None,
) -> list[dict[str, Any]]:
    available = min(len(os.sched_getaffinity(0)), max_cores or 1 << 16)
    rows = []
    for cores, web, workers in grid(available):
        print(f"sweep: {cores} cores, {web} web, worker concurrency {workers}", flush=True)
        rows.append(measure(service, bodies, cores, web, workers, seconds, clients, devices))
    keep_table("sweep", command, table(rows), rows, out_dir)
    return rows

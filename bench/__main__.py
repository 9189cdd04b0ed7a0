"""Fleet-scale speed, measured side by side in one run on this machine.

    python -m bench                                   # fleet scale (make bench)
    python -m bench --vehicles 200 --hours 1 --seconds 3   # a quick run (make bench-smoke)

Every figure is also given as a ratio to the machine's limit measured in the same run: COPY of
the same readings into tables shaped like history. Results go to bench/results/<date>.json and
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text

from bench import (
    capacity,
    charger_reads,
    data,
    load,
    ocpp_load,
    packing,
    refresh,
    registers,
    report,
    sweep,
)
from bench import servers as server_comparison
from bench.stack import ANALYST_TOKEN, DEVICE_TOKEN, Service, lag_quantiles
from tools.local import servers


def copy_limit(service: Service, rows: tuple[str, str, int]) -> dict[str, Any]:
    meters, vehicles, count = rows

    with service.engine().begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for table in ("meter_readings", "vehicle_readings"):
            cursor.execute(
                f"CREATE TEMP TABLE copy_{table} (LIKE {table} INCLUDING ALL) ON COMMIT DROP"
            )
        started = time.perf_counter()
        cursor.copy_expert(
            f"COPY copy_meter_readings {data.METER_COLUMNS} FROM STDIN", io.StringIO(meters)
        )
        cursor.copy_expert(
            f"COPY copy_vehicle_readings {data.VEHICLE_COLUMNS} FROM STDIN", io.StringIO(vehicles)
        )
        seconds = time.perf_counter() - started
    return {"rows": count, "seconds": seconds, "rows_per_s": count / seconds}


def batched_ingest(
    service: Service, bodies: list[bytes], concurrency: int, seconds: float, clients: int
) -> dict[str, Any]:
    service.reset()
    with service.running(f"batched-c{concurrency}", WORKER_CONCURRENCY=concurrency) as stack:
        before = service.stored()
        web_cpu = cpu_seconds(stack.processes["web"].pid)
        started = time.monotonic()
        sent = load.post_bodies(stack.url, DEVICE_TOKEN, bodies, clients, seconds)
        elapsed = time.monotonic() - started
        web_cpu = cpu_seconds(stack.processes["web"].pid) - web_cpu
        committed = service.stored() - before
        drain = service.wait_drained()
        p50, p99 = lag_quantiles(Path(stack.env["METRICS_DIR"]))
    return {
        "worker_concurrency": concurrency,
        "clients": clients,
        "seconds": elapsed,
        "accepted_per_s": sent.accepted / elapsed,
        "committed_per_s": committed / elapsed,
        # The web tier's CPU (every web process, user + system) per accepted reading.
        "web_cpu_seconds": web_cpu,
        "web_cpu_us_per_reading": web_cpu / max(1, sent.accepted) * 1e6,
        "drain_seconds": drain,
        "lag_p50_s": p50,
        "lag_p99_s": p99,
        "statuses": dict(sent.statuses),
    }


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its live children (a web server's workers)."""
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def cpu_by_process(name: str) -> dict[int, float]:
    """CPU time used so far by each process of that name (a server the bench did not start)."""
    used = {}
    for p in psutil.process_iter(["name"]):
        if p.info["name"] == name:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = p.cpu_times()
                used[p.pid] = times.user + times.system
    return used


def cpu_since(before: dict[int, float], name: str) -> float:
    """CPU time the processes of that name used since `before` (cpu_by_process): per process,
    so one that ended meanwhile (another client's PostgreSQL backend) takes nothing away."""
    now = cpu_by_process(name)
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


# The paced run's readings per POST: 3,333 single-reading POSTs a second is more than two
# cores serve (see the single-record figure), so the lag is measured below saturation.
PACED_BATCH = 10


def paced_lag(service: Service, bodies: list[bytes], rate: float, seconds: float) -> dict:
    """`rate` readings a second, as POSTs of PACED_BATCH readings (a charger's gateway)."""
    service.reset()
    with service.running("paced") as stack:
        requests_per_s = rate / PACED_BATCH
        sent = load.post_bodies(stack.url, DEVICE_TOKEN, bodies, 4, seconds, rate=requests_per_s)
        service.wait_drained()
        p50, p99 = lag_quantiles(Path(stack.env["METRICS_DIR"]))
    return {
        "target_per_s": rate,
        "accepted_per_s": sent.accepted / seconds,
        "lag_p50_s": p50,
        "lag_p99_s": p99,
        "statuses": dict(sent.statuses),
    }


def single_ingest(service: Service, seconds: int, devices: int) -> dict[str, Any]:
    service.reset()
    with service.running("single") as stack:
        web, worker = stack.processes["web"].pid, stack.processes["worker"].pid
        web_before, worker_before = cpu_seconds(web), cpu_seconds(worker)
        servers_before = {name: cpu_by_process(name) for name in ("redis-server", "postgres")}
        result = load.wrk_ingest(stack.url, DEVICE_TOKEN, seconds, 16, service.work_dir, devices)
        # The worker's share of what wrk sent is measured once it has stored all of it.
        service.wait_drained()
        answered = max(1.0, result.requests_per_s * seconds)
        used = {
            "web": cpu_seconds(web) - web_before,
            "worker": cpu_seconds(worker) - worker_before,
            "redis": cpu_since(servers_before["redis-server"], "redis-server"),
            "postgresql": cpu_since(servers_before["postgres"], "postgres"),
        }
        cpu = {name: seconds / answered * 1e6 for name, seconds in used.items()}
    return vars(result) | {"cpu_us_per_request": cpu}


def analytics_reads(service: Service, seconds: int, vehicles: int) -> dict[str, Any]:
    service.reset()
    with service.engine().begin() as conn:
        conn.execute(text(data.PERFORMANCE_ROWS), {"n": vehicles})
        conn.execute(text(data.PERFORMANCE_WINDOW))
    # Side by side: the refresh stamp asked on every read, then as shipped (once a second). Each
    # stack starts with no answer in memory, as right after a refresh.
    with service.running("reads-stamp-every-read", READ_CACHE_SECONDS="0") as stack:
        every = load.wrk_reads(stack.url, ANALYST_TOKEN, seconds, 16, service.work_dir, vehicles)
    with service.running("reads") as stack:
        result = load.wrk_reads(stack.url, ANALYST_TOKEN, seconds, 16, service.work_dir, vehicles)
        paced = load.wrk_reads(
            stack.url, ANALYST_TOKEN, seconds, 16, service.work_dir, vehicles, pause_ms=6
        )
        # What the server + Flask serve with no work at all, here and now: the ceiling of both
        # wrk figures on this machine.
        floor = load.wrk(stack.url + "/healthz", "", max(2, seconds // 2), 16, service.work_dir, [])
    return vars(result) | {
        "healthz_floor": vars(floor),
        "stamp_every_read": vars(every),
        "paced": vars(paced),
    }


def _keep(results: dict[str, Any], out_dir: Path, mode: str) -> int:
    """A side mode's results in out_dir/MODE-DATE.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{mode}-{datetime.now(UTC):%Y-%m-%d}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {path}")
    return 0


def _compare_ocpp(energy: dict[str, Any], rich: dict[str, Any]) -> None:
    """The price of keeping what chargers say besides energy, side by side."""
    sample = rich["storage"]["charger_samples"]["bytes_per_reading"]
    reading = rich["storage"]["meter_readings"]["bytes_per_reading"]
    print(
        "    with statuses and measurands kept / energy alone: "
        f"p99 {rich['p99_ms']:.1f} / {energy['p99_ms']:.1f} ms "
        f"({rich['p99_ms'] / max(energy['p99_ms'], 1e-9):.2f}x), "
        f"CPU {rich['cpu_ms_per_message']:.3f} / {energy['cpu_ms_per_message']:.3f} ms a message "
        f"({rich['cpu_ms_per_message'] / max(energy['cpu_ms_per_message'], 1e-9):.2f}x); "
        f"a kept sample {sample:.0f} bytes beside a reading's {reading:.0f}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--vehicles", type=int, default=10_000, help="fleet size (and meters)")
    parser.add_argument("--hours", type=float, default=24, help="history for the refresh")
    parser.add_argument(
        "--seconds", type=int, default=None, help="length of each load run (60; 10 with --sweep)"
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="only ingest, over web processes x worker concurrency x cores (bench/sweep.py)",
    )
    parser.add_argument("--max-cores", type=int, default=None, help="cap the sweep's cores")
    parser.add_argument(
        "--servers",
        action="store_true",
        help="only web servers side by side: gunicorn, Granian before and now (bench/servers.py)",
    )
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="only what one Redis, one consumer and PostgreSQL carry (bench/capacity.py)",
    )
    parser.add_argument(
        "--ocpp",
        action="store_true",
        help="only chargers: connections one ocpp process holds (bench/ocpp_load.py)",
    )
    parser.add_argument(
        "--charger-reads",
        action="store_true",
        help="only a charger's reads, the chargers' listing and sessions, beside a vehicle's",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="only the refresh: full rebuild and steady state over --hours of history",
    )
    parser.add_argument(
        "--packing",
        action="store_true",
        help="only packed history: bytes a reading packed and not, a device's day read both ways",
    )
    parser.add_argument(
        "--builders",
        default="",
        help="with --refresh: the full rebuild again with each of these builder counts, e.g. 1,2,4",
    )
    parser.add_argument("--connections", type=int, default=10_000, help="chargers (--ocpp)")
    parser.add_argument(
        "--period", type=float, default=60, help="seconds between a charger's MeterValues (--ocpp)"
    )
    parser.add_argument("--clients", type=int, default=4, help="load client processes")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument(
        "--no-docs", dest="update_docs", action="store_false", help="leave docs/PERFORMANCE.md"
    )
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 10 if args.sweep or args.capacity or args.servers else 60
    command = " ".join(["python -m bench", *argv])
    results: dict[str, Any] = {"command": command, "args": vars(args)}

    work_dir = Path(tempfile.mkdtemp(prefix="ev-bench-"))
    env = {k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(work_dir / "servers")
    with servers(env) as server_env:
        service = Service.create(server_env, work_dir)
        if args.ocpp:
            # Energy alone, then statuses and every measurand kept too, in one run.
            for key, rich in (("ocpp", False), ("ocpp_rich", True)):
                results[key] = ocpp_load.run(
                    service, args.connections, args.seconds, args.period, rich=rich
                )
                print(f"    {key}: {results[key]}")
            _compare_ocpp(results["ocpp"], results["ocpp_rich"])
            return _keep(results, Path(args.out), "ocpp")
        if args.charger_reads:
            results["charger_reads"] = charger_reads.run(service, args.seconds, args.vehicles)
            print(f"    charger_reads: {results['charger_reads']}")
            return _keep(results, Path(args.out), "charger-reads")
        if args.packing:
            results["packing"] = packing.run(service, args.vehicles, args.hours)
            print(f"    packing: {results['packing']}")
            return _keep(results, Path(args.out), "packing")
        if args.refresh:
            builders = tuple(int(n) for n in args.builders.split(",") if n)
            results["refresh"] = refresh.at_scale(
                service, args.vehicles, args.hours, builders=builders
            )
            print(f"    refresh: {results['refresh']}")
            return _keep(results, Path(args.out), "refresh")
        # Enough readings that no client runs out at ~60,000 readings/s.
        minutes = max(2, round(60_000 * args.seconds / (2 * args.vehicles)) + 1)
        print(f"generating {minutes} minutes of a {args.vehicles}-vehicle fleet", flush=True)
        fleet = data.fleet_minutes(args.vehicles, minutes)
        bodies = data.bodies(fleet, 500)
        if args.servers:
            del fleet, bodies
            server_comparison.run(service, args.seconds, args.vehicles, Path(args.out), command)
            return 0
        if args.capacity:
            # 200,000 readings for the consumer at the default fleet of 10,000.
            drained = 20 * args.vehicles
            results["capacity"] = capacity.run(service, args.seconds, args.clients, drained)
            results["copy"] = copy_limit(service, data.copy_rows(fleet))
            print(f"    postgresql_copy: {results['copy']['rows_per_s']:,.0f} rows/s")
            return _keep(results, Path(args.out), "capacity")
        if args.sweep:
            del fleet
            out = Path(args.out)
            sweep.run(
                service,
                bodies,
                args.seconds,
                args.clients,
                args.vehicles,
                out,
                command,
                args.max_cores,
            )
            return 0
        # The paced run needs 3,333 single readings a second, not the whole fleet's.
        paced = 3333
        small = data.bodies(fleet, PACED_BATCH, limit=round(paced * args.seconds * 1.2))
        copy_rows = data.copy_rows(fleet)
        register_bodies = registers.bodies(fleet, 500)
        # The writer alone: ten minutes of the fleet, as intervals and as registers.
        writer_minutes = fleet[:10]
        del fleet  # millions of dicts at fleet scale; the bodies and COPY text are all we need

        steps: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
            ("copy", "machine limit: COPY", lambda: copy_limit(service, copy_rows)),
            *[
                (
                    f"batched_c{c}",
                    f"batched ingest, worker concurrency {c}",
                    lambda c=c: batched_ingest(service, bodies, c, args.seconds, args.clients),
                )
                for c in (1, 2)
            ],
            *[
                (
                    f"batched_registers_c{c}",
                    f"batched ingest of registers, worker concurrency {c}",
                    lambda c=c: batched_ingest(
                        service, register_bodies, c, args.seconds, args.clients
                    ),
                )
                for c in (1, 2)
            ],
            (
                "writer_registers",
                "history writer alone: interval and register batches of 5,000",
                lambda: registers.writer(service, writer_minutes, 5000),
            ),
            (
                "paced",
                f"lag at {paced:,} readings/s",
                lambda: paced_lag(service, small, paced, args.seconds),
            ),
            (
                "single",
                "single-record ingest (wrk)",
                lambda: single_ingest(service, args.seconds, args.vehicles),
            ),
            (
                "reads",
                "analytics reads (wrk)",
                lambda: analytics_reads(service, args.seconds, args.vehicles),
            ),
            (
                "charger_reads",
                "a charger's reads, the chargers' listing, a month of sessions (wrk)",
                lambda: charger_reads.run(service, args.seconds, args.vehicles),
            ),
            (
                "refresh_full",
                f"refresh over {args.hours:g} h of history",
                lambda: refresh.at_scale(service, args.vehicles, args.hours),
            ),
            (
                "refresh_1h",
                "refresh over 1 h of history",
                lambda: refresh.at_scale(service, args.vehicles, min(1.0, args.hours)),
            ),
        ]
        for number, (key, title, run) in enumerate(steps, 1):
            started = time.monotonic()
            print(f"{number}/{len(steps)} {title}", flush=True)
            results[key] = run()
            print(f"    {time.monotonic() - started:.0f} s: {results[key]}", flush=True)
    report.write(results, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The benchmark harness runs end to end at a tiny size (`make bench-smoke`), so it never rots.

No timing is asserted: the machine is shared. What is checked is that every measurement ran on
the real stack and reported a figure, and that the table names every target.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import ocpp_load
from tests.support.constants import ROOT


@pytest.fixture
def bench(
    tmp_path: Path, server_env: dict[str, str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m bench ARGS --out tmp_path` on the test's servers; it must succeed."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        urls = {k: server_env[k] for k in ("DATABASE_URL", "REDIS_URL")}
        done = subprocess.run(
            [sys.executable, "-m", "bench", *args, "--out", str(tmp_path)],
            cwd=ROOT,
            env={**os.environ, **urls, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    return run


def test_bench_smoke_reports_every_measure(tmp_path: Path, bench) -> None:
    run = bench("--vehicles", "60", "--hours", "0.25", "--seconds", "2", "--no-docs")
    (result_file,) = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())

    assert results["copy"]["rows"] > 0
    assert results["copy"]["rows_per_s"] > 0
    for concurrency in (1, 2):
        batched = results[f"batched_c{concurrency}"]
        assert batched["worker_concurrency"] == concurrency
        assert set(batched["statuses"]) == {"202"}  # every POST accepted, none refused
        assert batched["accepted_per_s"] > 0
        assert batched["committed_per_s"] > 0
        assert 0 < batched["lag_p50_s"] <= batched["lag_p99_s"]
        # The web processes did the accepting, so they used CPU for it.
        assert batched["web_cpu_seconds"] > 0
        assert batched["web_cpu_us_per_reading"] > 0
    # Registers beside intervals, through the service and through the writer alone.
    registers = results["batched_registers_c1"]
    assert set(registers["statuses"]) == {"202"}
    assert registers["committed_per_s"] > 0
    writer = results["writer_registers"]
    assert 0 < writer["readings"] <= 2 * 60 * 10  # ten minutes of 60 meters and 60 vehicles
    assert writer["interval_per_s"] > 0
    assert writer["register_per_s"] > 0
    assert set(results["paced"]["statuses"]) == {"202"}
    for wrk_run in ("single", "reads"):
        assert results[wrk_run]["requests_per_s"] > 0
        assert results[wrk_run]["errors"] == "", results[wrk_run]["errors"]
    # Every process that handles a single reading did work for it.
    cpu = results["single"]["cpu_us_per_request"]
    assert all(cpu[part] > 0 for part in ("web", "worker", "redis", "postgresql")), cpu
    full, hour = results["refresh_full"], results["refresh_1h"]
    assert full["history_rows"] == 2 * 60 * 15  # two readings per vehicle-minute for 15 min
    assert full["vehicles_served"] > 0
    assert full["steady_refresh_seconds"] > 0
    assert hour["steady_refresh_seconds"] > 0
    for table in ("meter_readings", "vehicle_readings"):
        assert full["storage"][table]["rows"] == 60 * 15
        assert full["storage"][table]["bytes_per_reading"] > 0

    targets = (
        "≥ 0.85 of intervals",
        "≥ 0.85",
        "≥ 30,000/s",
        "p99 < 1 s",
        "≥ 3,500/s, p99 < 20 ms, share ≥ 0.6",
        "< 60 s",
        "≤ 100",
    )
    for target in targets:
        assert target in run.stdout
    assert "web CPU per reading; readings/s per web core" in run.stdout
    assert "CPU per request, web / worker / Redis / PostgreSQL" in run.stdout


def test_sweep_measures_each_configuration_confined_to_its_cores(tmp_path: Path, bench) -> None:
    run = bench("--sweep", "--max-cores", "1", "--vehicles", "60", "--seconds", "1")
    assert "| cores | web processes | worker concurrency |" in run.stdout
    (result_file,) = tmp_path.glob("sweep-*.json")
    (row,) = json.loads(result_file.read_text())["rows"]
    assert (row["cores"], row["web_processes"], row["worker_concurrency"]) == (1, 1, 1)
    assert row["service_cpus"] == str(min(os.sched_getaffinity(0)))
    assert set(row["batched_statuses"]) == {"202"}
    assert row["batched_committed_per_s"] > 0
    assert row["single_requests_per_s"] > 0
    assert row["single_errors"] == ""


def test_the_sweep_grid_fits_any_number_of_cores() -> None:
    from bench.sweep import core_counts, grid

    assert core_counts(2) == [1, 2]
    assert core_counts(16) == [1, 2, 4, 8, 16]
    assert core_counts(48) == [1, 2, 4, 8, 16, 32, 48]
    assert list(grid(2)) == [(1, 1, 1), (2, 1, 1), (2, 1, 2), (2, 2, 1), (2, 2, 2)]
    big = list(grid(64))
    assert (64, 64, 64) in big
    assert (64, 32, 64) in big
    assert len(big) == 1 + 4 * 6


def test_capacity_measures_redis_one_consumer_and_copy(tmp_path: Path, bench) -> None:
    run = bench("--capacity", "--vehicles", "60", "--seconds", "1", "--clients", "2")
    (result_file,) = tmp_path.glob("capacity-*.json")
    results = json.loads(result_file.read_text())
    figures = results["capacity"]
    runs = {
        "redis_add_one_client_arrays_of_500",
        "redis_add_one_client_single",
        "redis_add_2_clients_arrays_of_500",
        "redis_add_2_clients_single",
        "consumer_arrays_of_500",
        "consumer_single",
    }
    # Each run's readings/s and the Redis server's CPU per reading in it; one Redis core's
    # ceiling by shape, from the CPU a reading costs it queued and drained.
    ceilings = {"redis_ceiling_arrays_of_500", "redis_ceiling_single"}
    assert set(figures) == runs | {f"{run}_redis_cpu_us" for run in runs} | ceilings
    assert all(figures[run] > 0 for run in runs | ceilings)
    assert figures["redis_ceiling_single"] < figures["redis_ceiling_arrays_of_500"]
    assert "ceiling" in run.stdout
    assert results["copy"]["rows_per_s"] > 0
    assert "consumer_arrays_of_500:" in run.stdout
    assert "postgresql_copy:" in run.stdout


def test_servers_compares_gunicorn_and_granian_side_by_side(tmp_path: Path, bench) -> None:
    run = bench("--servers", "--vehicles", "60", "--seconds", "1")
    assert "| server | round | single ingest req/s |" in run.stdout
    (result_file,) = tmp_path.glob("servers-*.json")
    rows = json.loads(result_file.read_text())["rows"]
    assert [(r["server"], r["round"]) for r in rows] == [
        (server, rnd)
        for rnd in (1, 2)
        for server in (
            "gunicorn sync",
            "gunicorn gthread x4",
            "granian WSGI x1 (before)",
            "granian WSGI x4",
            "granian (Procfile)",
        )
    ]
    for row in rows:
        for measure in ("single", "reads", "healthz"):
            assert row[measure]["requests_per_s"] > 0, (row["server"], measure)
            assert row[measure]["errors"] == "", (row["server"], measure, row[measure]["errors"])


def test_ocpp_load_holds_chargers_and_measures_their_confirmations(tmp_path: Path, bench) -> None:
    run = bench("--ocpp", "--connections", "40", "--seconds", "3", "--period", "1")
    (result_file,) = tmp_path.glob("ocpp-*.json")
    results = json.loads(result_file.read_text())
    for key in ("ocpp", "ocpp_rich"):
        result = results[key]
        assert result["connected"] == 40
        assert result["errors"] == 0
        assert result["messages"] >= 40  # each charger confirmed at least once
        assert 0 < result["p50_ms"] <= result["p99_ms"]
        assert result["held_rss_mb"] > 0
    rich = results["ocpp_rich"]
    assert rich["statuses"] >= 40  # each charger's first MeterValues is followed by a status
    # Every measurand kept for every confirmed MeterValues, and each cost some bytes.
    samples = rich["storage"]["charger_samples"]
    meter_values = rich["messages"] - rich["statuses"]
    assert samples["rows"] == len(ocpp_load.MEASURED) * meter_values
    assert samples["bytes_per_reading"] > 0
    assert results["ocpp"]["storage"]["charger_samples"]["rows"] == 0
    assert "ocpp:" in run.stdout
    assert "with statuses and measurands kept / energy alone: p99" in run.stdout

"""Fault 8: devices flush their buffers after an outage, into writers that were down.

Writers stopped, and no day partitions (beat was down too): forty devices each flush three days
of readings in arrays of 10,000. Then the writers come back to the full buffer, writing into the
default partition, and partition maintenance returns while they do: it makes the days'
partitions and moves rows out of the default one under the writers' inserts.
Every 202 is stored once, nothing is dead-lettered, and no writer process holds more than its
batch: each one's peak memory is recorded and bounded.
"""

from __future__ import annotations

import threading

import psutil
from sqlalchemy import text

from buffer.stream import IngestStream
from models.schema import PARTITIONED
from storage import partitions
from tests.faults.devices import check_ledger, flush_backlogs
from tests.support.helpers import dead_letters, wait_until

# What a writer process (a Celery pool process with its consumer) may grow to, resident, while
# it drains a buffer of flushed backlogs with BATCH_MAX_READINGS=5000. docs/RELIABILITY.md says so.
WRITER_PEAK_MB = 160


def _drop_all_partitions(engine) -> None:
    for table in PARTITIONED:
        with engine.connect() as conn:
            days = partitions.existing_days(conn, table)
        for day in days:
            with engine.begin() as conn:
                conn.execute(text(f"DROP TABLE {partitions.partition_name(table, day)}"))


def _writer_peaks_mb(worker: psutil.Process) -> list[float]:
    """Peak resident memory (VmHWM) of each pool process: the processes that consume the stream."""
    peaks = []
    for child in worker.children():
        with open(f"/proc/{child.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
    return peaks


def test_backfill_after_an_outage_is_stored_once_in_bounded_memory(
    service, clean_db, redis_client, report
):
    stream = IngestStream(redis_client, service.env["REDIS_KEY_PREFIX"])
    _drop_all_partitions(clean_db)
    service.env["BATCH_MAX_READINGS"] = "5000"
    service.start("web")
    prefix = "BF"
    ledger = flush_backlogs(service.url, prefix, devices=40, days=3)
    queued = stream.backlog()
    assert queued == len(ledger.acked) == 40 * 3 * 24 * 60

    stop = threading.Event()
    runs: list[partitions.MaintenanceResult] = []
    failures: list[str] = []

    def maintain() -> None:
        while not stop.is_set():
            try:
                runs.append(partitions.maintain(clean_db, days_ahead=1, retention_days=7))
            except Exception as exc:  # beat would try again at the next run; so do we
                failures.append(repr(exc))
            stop.wait(0.5)

    maintenance = threading.Thread(target=maintain, daemon=True)
    worker = psutil.Process(service.start("worker").pid)
    # The writers are filling the default partition (no day has one) when maintenance returns.
    wait_until(lambda: stream.backlog() < queued * 0.8, 120, "the writers to be under way")
    maintenance.start()
    try:
        wait_until(lambda: stream.backlog() == 0, 300, "the writers to drain the buffer")
    finally:
        stop.set()
        maintenance.join(60)
    peaks = _writer_peaks_mb(worker)

    figures = check_ledger(clean_db, ledger, prefix)
    assert dead_letters(clean_db) == []
    assert "event=dead_letters" not in service.log("worker")
    assert peaks, "the worker's pool processes"
    assert max(peaks) < WRITER_PEAK_MB, peaks
    moved = sum(r.moved_rows for r in runs)
    assert moved > 0, "maintenance ran while rows were in the default partition"
    with clean_db.connect() as conn:
        in_default = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM meter_readings_default) "
                "+ (SELECT count(*) FROM vehicle_readings_default)"
            )
        ).scalar()
    assert in_default == 0, "every day's rows moved to the day's partition"
    report(
        devices=40,
        days_per_device=3,
        queued_when_writers_returned=queued,
        maintenance_runs=len(runs),
        maintenance_runs_failed=failures,
        partitions_made=sum(len(r.created) for r in runs),
        rows_moved_from_default=moved,
        commits_retried_on_partition_change=service.log("worker").count("PartitionMoved"),
        writer_peak_rss_mb=[round(p, 1) for p in peaks],
        writer_peak_bound_mb=WRITER_PEAK_MB,
        **figures,
    )

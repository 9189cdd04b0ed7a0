"""Runs one stream consumer beside each Celery pool process.

Celery owns the processes (their number is --concurrency, their restarts are its own); each
process, once forked, starts a consumer thread named after the worker's node name and the
process's pool index. A process that replaces a dead one gets the same index, hence the same
consumer name, and so re-reads what its predecessor held before taking anything new.
"""

from __future__ import annotations

import logging
import threading

from billiard.process import current_process

import metrics
from settings import get_settings
from workers import resources
from workers.consumer import BatchReport, Consumer

log = logging.getLogger(__name__)

_thread: threading.Thread | None = None
_stop = threading.Event()

# Long enough to finish a batch in hand; past it the process exits and the batch stays pending.
STOP_TIMEOUT_SECONDS = 30


def consumer_name(hostname: str) -> str:
    index = getattr(current_process(), "index", 0)
    return f"{hostname}#{index}"


def start(hostname: str) -> None:
    global _thread
    consumer = Consumer(
        consumer_name(hostname),
        resources.stream(),
        resources.engine(),
        get_settings(),
        on_batch=observe,
    )
    _stop.clear()
    _thread = threading.Thread(target=consumer.run, args=(_stop,), name="stream-consumer")
    _thread.daemon = True
    _thread.start()


def observe(report: BatchReport) -> None:
    written = report.stored.written
    metrics.BATCH_READINGS.observe(written.meters + written.vehicles)
    metrics.COMMIT_SECONDS.observe(report.seconds)
    for lag_ms in report.lags_ms:
        metrics.INGEST_LAG.observe(lag_ms / 1000)
    metrics.READINGS_WRITTEN.labels("new").inc(written.inserted)
    metrics.READINGS_WRITTEN.labels("duplicate").inc(written.duplicates)
    metrics.DEAD_LETTERED.inc(report.stored.dead_lettered)


def stop() -> None:
    _stop.set()
    if _thread is not None and _thread.is_alive():
        _thread.join(STOP_TIMEOUT_SECONDS)
        if _thread.is_alive():
            log.warning("event=consumer_stop_timeout; its batch stays pending for a successor")

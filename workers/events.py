"""Each committed batch as a task in Celery's event stream, so Flower and `celery events` show
the ingest work (which runs beside the pool, not as tasks) with what each batch stored and how
long it took. Task name: `ev.ingest_batch`; sent only when task events are on
(celeryconfig: worker_send_task_events)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from celery import Celery

import metrics
from workers.consumer import BatchReport

log = logging.getLogger(__name__)
TASK_NAME = "ev.ingest_batch"

# One dispatcher (and broker connection) per consumer thread: kombu's are not thread-safe.
_local = threading.local()


def observer(app: Celery, hostname: str) -> Any:
    """What the consumers of this process do with each committed batch: count it in the
    metrics and show it in Celery's event stream."""

    def observe(consumer: str, report: BatchReport) -> None:
        written = report.stored.written
        metrics.BATCH_READINGS.observe(written.readings)
        metrics.COMMIT_SECONDS.observe(report.seconds)
        for lag_ms in report.lags_ms:
            metrics.INGEST_LAG.observe(lag_ms / 1000)
        metrics.READINGS_WRITTEN.labels("new").inc(written.inserted)
        metrics.READINGS_WRITTEN.labels("duplicate").inc(written.duplicates)
        metrics.DEAD_LETTERED.inc(report.stored.dead_lettered)
        batch_committed(app, hostname, consumer, report)

    return observe


def _dispatcher(app: Celery, hostname: str) -> Any:
    dispatcher = getattr(_local, "dispatcher", None)
    if dispatcher is None:
        dispatcher = app.events.Dispatcher(
            app.connection_for_write(),
            hostname=hostname,
            enabled=bool(app.conf.worker_send_task_events),
            # Dropped, not kept, while the broker is away: they are a view, not a record.
            buffer_while_offline=False,
        )
        _local.dispatcher = dispatcher
    return dispatcher


def batch_committed(app: Celery, hostname: str, consumer: str, report: BatchReport) -> None:
    written = report.stored.written
    result = {
        "consumer": consumer,
        "entries": report.entries,
        "readings": written.readings,
        "new": written.inserted,
        "duplicates": written.duplicates,
        "dead_lettered": report.stored.dead_lettered,
    }
    task_id = str(uuid.uuid4())
    started = time.time() - report.seconds
    try:
        # Received (it carries the task's name) and succeeded (result, runtime): what Flower and
        # `celery events` need; two publishes a batch, no more, on the consumer's own thread.
        send = _dispatcher(app, hostname).send
        send(
            "task-received",
            uuid=task_id,
            name=TASK_NAME,
            args="()",
            kwargs=repr({"consumer": consumer, "entries": report.entries}),
            retries=0,
            eta=None,
            timestamp=started,
        )
        send("task-succeeded", uuid=task_id, result=repr(result), runtime=report.seconds)
    except Exception as exc:  # the batch is stored and acknowledged; only its view is lost
        log.debug("event=batch_event_not_sent error=%r", exc)
        _local.dispatcher = None

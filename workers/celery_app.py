"""The Celery app, built in this one place."""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import Celery, signals

import logs
import metrics
from settings import get_settings
from storage import connections, redis_client
from workers import drain, events, pools  # pools registers the `ingest` inspect command

app = Celery("ev", include=["workers.tasks"])
app.config_from_object("celeryconfig")

app.steps["worker"].add(pools.ThreadConsumers)


@signals.setup_logging.connect
def _logging(**_: Any) -> None:
    # Connected, so Celery leaves logging to us: the same format as web (LOG_FORMAT).
    logs.configure(get_settings())


@signals.worker_init.connect
def _check_pool(sender: Any = None, **_: Any) -> None:
    reason = pools.refusal(sender.pool_cls)
    if reason:
        sys.stderr.write(f"ev worker refuses to start: {reason}\n")
        raise SystemExit(1)
    most = connections.worker_most(sender.concurrency, pools.kind(sender.pool_cls))
    settings = get_settings()
    try:
        redis_client.refuse_cluster(settings)
    except redis_client.RedisClusterRefused as exc:
        sys.stderr.write(f"ev worker refuses to start: {exc}\n")
        raise SystemExit(1) from exc
    connections.check_at_start(settings, "worker", most)
    if settings.metrics_port:
        metrics.serve_host_samples(settings.host, settings.metrics_port)


@signals.worker_init.connect
@signals.beat_init.connect
def _check_directories(**_: Any) -> None:
    """Refuse to start, saying why, rather than run without a place for beat's schedule or for
    the samples /metrics sums."""
    try:
        os.makedirs(get_settings().data_dir, exist_ok=True)
        metrics.require_shared_dir()
    except (OSError, metrics.MetricsDirUnusable) as exc:
        sys.stderr.write(f"ev {_process()} refuses to start: {exc}\n")
        raise SystemExit(1) from exc


def _process() -> str:
    return "beat" if "beat" in sys.argv else "worker"


@signals.worker_process_init.connect
def _start_consumer(sender: str | None = None, **_: Any) -> None:
    # Sent by the prefork pool in each child and by the solo pool in the worker itself.
    hostname = sender or "worker"
    drain.start(hostname, events.observer(app, hostname))


@signals.worker_process_shutdown.connect
def _stop_consumer(**_: Any) -> None:
    drain.stop()
    metrics.process_ended()

"""Periodic jobs. Thin: each opens its unit of work and calls the plain function that does it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import metrics
from models import partitions, performance
from settings import get_settings
from workers import resources
from workers.celery_app import app

log = logging.getLogger(__name__)


@app.task(name="ev.refresh_performance")
def refresh_performance() -> dict[str, object] | None:
    with resources.engine().begin() as conn:
        result = performance.refresh(conn, datetime.now(UTC), wait=False)
    if result is None:
        log.info("event=refresh_skipped reason=another_refresh_running")
        return None
    metrics.REFRESH_SECONDS.labels(result.mode).observe(result.seconds)
    log.info(
        "event=refresh mode=%s minutes=%d vehicles=%d seconds=%.3f",
        result.mode,
        result.recomputed_minutes,
        result.vehicles,
        result.seconds,
    )
    return {"mode": result.mode, "vehicles": result.vehicles, "seconds": result.seconds}


@app.task(name="ev.maintain_partitions")
def maintain_partitions() -> dict[str, object]:
    s = get_settings()
    result = partitions.maintain(
        resources.engine(), datetime.now(UTC).date(), s.partition_days_ahead, s.retention_days
    )
    return {"created": result.created, "dropped": result.dropped}


@app.task(name="ev.prune_consumers")
def prune_consumers() -> list[str]:
    removed = resources.stream().prune_consumers(get_settings().consumer_gone_seconds * 1000)
    if removed:
        log.info("event=consumers_pruned names=%s", ",".join(removed))
    return removed

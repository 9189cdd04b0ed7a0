"""Periodic jobs. Thin: each opens its unit of work and calls the plain function that does it."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import metrics
from models import partitions
from models.efficiency import alerts, performance
from settings import get_settings
from workers import resources
from workers.celery_app import app

log = logging.getLogger(__name__)


@app.task(name="ev.refresh_performance")
def refresh_performance() -> dict[str, object] | None:
    started = time.time()
    with resources.engine().begin() as conn:
        result = performance.refresh(
            conn,
            datetime.now(UTC),
            wait=False,
            session_gap=timedelta(seconds=get_settings().session_gap_seconds),
        )
    ended = time.time()
    if result is None:
        log.info("event=refresh_skipped reason=another_refresh_running")
        return None
    metrics.REFRESH_DURATION.labels(result.mode).observe(result.seconds)
    log.info(
        # started/ended (epoch seconds) enclose the transaction that held the refresh lock.
        "event=refresh mode=%s minutes=%d vehicles=%d seconds=%.3f started=%.3f ended=%.3f",
        result.mode,
        result.recomputed_minutes,
        result.vehicles,
        result.seconds,
        started,
        ended,
    )
    return {"mode": result.mode, "vehicles": result.vehicles, "seconds": result.seconds}


@app.task(name="ev.maintain_partitions")
def maintain_partitions() -> dict[str, object]:
    s = get_settings()
    # The database's date, not this host's: a worker's clock must never decide what expires.
    result = partitions.maintain(resources.engine(), s.partition_days_ahead, s.retention_days)
    if result.skipped:
        log.info("event=maintenance_skipped reason=another_maintenance_running")
    return {"created": result.created, "dropped": result.dropped, "skipped": result.skipped}


@app.task(name="ev.check_chargers")
def check_chargers() -> dict[str, object]:
    s = get_settings()
    with resources.engine().begin() as conn:
        failing = alerts.judge(conn, s.efficiency_alert_below, s.charger_alert_sessions)
    log.info("event=chargers_checked failing=%d", failing)
    return {"failing": failing}


@app.task(name="ev.prune_consumers")
def prune_consumers() -> dict[str, object]:
    """Consumers gone for good leave the group; entries no consumer holds any more (their
    consumer deleted by hand, say) go back to the stream's end to be read again."""
    stream = resources.stream()
    removed = stream.prune_consumers(get_settings().consumer_gone_seconds * 1000)
    if removed:
        log.info("event=consumers_pruned names=%s", ",".join(removed))
    rescued = stream.rescue_orphans()
    if rescued:
        log.warning("event=orphans_rescued entries=%d", rescued)
    return {"removed": removed, "rescued": rescued}

"""Periodic jobs on beat's schedule. Thin: each calls its job (jobs.py), which commits its own unit
of work, and logs and counts what it did."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import jobs
import metrics
from settings import get_settings
from workers import resources
from workers.celery_app import app

log = logging.getLogger(__name__)


@app.task(name="ev.refresh_performance")
def refresh_performance() -> dict[str, object] | None:
    started = time.time()
    result = jobs.refresh_efficiency(
        resources.engine(), get_settings(), datetime.now(UTC), wait=False
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
    # The database's date, not this host's: a worker's clock must never decide what expires.
    result = jobs.maintain_partitions(resources.engine(), get_settings())
    if result.skipped:
        log.info("event=maintenance_skipped reason=another_maintenance_running")
        return {"created": [], "dropped": [], "skipped": True, "packed_readings": 0}
    # Closed days packed after their partitions are seen to: an hour's schedule packs a day as
    # soon as it passes PACK_AFTER_DAYS.
    packing = jobs.pack_history(resources.engine(), get_settings())
    if packing.readings:
        log.info(
            "event=history_packed days=%s readings=%d", ",".join(packing.days), packing.readings
        )
    return {
        "created": result.created,
        "dropped": result.dropped,
        "skipped": result.skipped,
        "packed_readings": packing.readings,
    }


@app.task(name="ev.check_chargers")
def check_chargers() -> dict[str, object]:
    failing = jobs.check_chargers(resources.engine(), get_settings())
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

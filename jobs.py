"""The periodic jobs, one body each: the Celery tasks run them on beat's schedule
(workers/tasks.py) and the operator's commands run them by hand (cli/jobs.py). Each takes its
engine and settings from the caller and commits its own unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine

from efficiency import alerts, refresh, rollups, sessions
from readings import packed
from settings import Settings
from storage import partitions


def refresh_efficiency(
    engine: Engine, settings: Settings, as_of: datetime, *, full: bool = False, wait: bool = True
) -> refresh.RefreshResult | None:
    """Bring the per-vehicle 24 h efficiency to the window ending at `as_of`; None when
    `wait` is False and another refresh is running. `full` recomputes the whole window, on
    REBUILD_BUILDERS connections of `engine` at once."""
    with engine.begin() as conn:
        return refresh.refresh(
            conn,
            as_of,
            full=full,
            wait=wait,
            engine=engine if full else None,
            session_gap=timedelta(seconds=settings.session_gap_seconds),
            builders=settings.builders,
        )


def maintain_partitions(engine: Engine, settings: Settings) -> partitions.MaintenanceResult:
    """Create the coming days' partitions, drop those past RETENTION_DAYS with their packed
    days, and forget the hourly rollups and the sessions
    past ROLLUP_RETENTION_DAYS (they outlive the minutes)."""
    with engine.begin() as conn:
        # The minutes' days past RETENTION_DAYS go next, so their hours are sealed first: the
        # refresh sealed them long ago, unless it has not run since.
        oldest = partitions.database_today(conn) - timedelta(days=settings.retention_days)
        refresh.seal_rollups(conn, datetime.combine(oldest, time(), UTC))
    result = partitions.maintain(
        engine,
        settings.partition_days_ahead,
        settings.retention_days,
        days_back=settings.partition_days_back,
    )
    if result.oldest_kept is not None:
        with engine.begin() as conn:
            packed.forget_before(conn, result.oldest_kept)
        # Never shorter than the minutes they sum.
        longer = max(0, settings.rollup_retention_days - settings.retention_days)
        kept_from = result.oldest_kept - timedelta(days=longer)
        with engine.begin() as conn:
            before = datetime.combine(kept_from, time(), UTC)
            sessions.forget_before(conn, before)
            rollups.forget_before(conn, before)
    return result


def pack_history(engine: Engine, settings: Settings) -> packed.PackResult:
    """Pack the closed days past PACK_AFTER_DAYS, a row of arrays per device and day."""
    return packed.pack(engine, settings.pack_after_days)


def check_chargers(engine: Engine, settings: Settings) -> int:
    """Judge every charger's last sessions now; how many are failing."""
    with engine.begin() as conn:
        return alerts.judge(conn, settings.efficiency_alert_below, settings.charger_alert_sessions)

"""`flask --app web <command>`: operator commands, each one unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask, current_app

from models import partitions, performance
from models.db import make_engine


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise click.BadParameter("give a zone offset, e.g. 2026-02-10T15:00:00Z")
    return moment


def register(app: Flask) -> None:
    @app.cli.command("refresh-performance")
    @click.option(
        "--as-of", "as_of", help="End of the 24 h window (ISO 8601 with zone); default now."
    )
    @click.option("--full", is_flag=True, help="Recompute every minute of the window from history.")
    def refresh_performance(as_of: str | None, full: bool) -> None:
        """Refresh the per-vehicle 24 h efficiency table now."""
        moment = _aware(as_of) if as_of else datetime.now(UTC)
        engine = make_engine(current_app.extensions["ev"].settings, pool_size=1)
        with engine.begin() as conn:
            result = performance.refresh(conn, moment, full=full)
        assert result is not None
        click.echo(
            f"refreshed {result.window_start.isoformat()} .. {result.window_end.isoformat()}: "
            f"{result.vehicles} vehicles, {result.recomputed_minutes} minutes recomputed, "
            f"{result.mode}, {result.seconds:.3f} s"
        )

    @app.cli.command("maintain-partitions")
    def maintain_partitions() -> None:
        """Create upcoming day partitions and drop those past RETENTION_DAYS."""
        settings = current_app.extensions["ev"].settings
        result = partitions.maintain(
            make_engine(settings, pool_size=1),
            datetime.now(UTC).date(),
            settings.partition_days_ahead,
            settings.retention_days,
        )
        click.echo(
            f"created {len(result.created)}, dropped {len(result.dropped)}, "
            f"moved {result.moved_rows} rows"
        )

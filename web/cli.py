"""`flask --app web <command>`: operator commands, each one unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import orjson
from flask import Flask, current_app

from models import dead_letters, partitions, performance
from models.db import make_engine
from models.stream import BufferFull
from simulator.command import simulate


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise click.BadParameter("give a zone offset, e.g. 2026-02-10T15:00:00Z")
    return moment


def register(app: Flask) -> None:
    app.cli.add_command(simulate)

    @app.cli.command("refresh-performance")
    @click.option(
        "--as-of", "as_of", help="End of the 24 h window (ISO 8601 with zone); default now."
    )
    @click.option("--full", is_flag=True, help="Recompute every minute of the window from history.")
    def refresh_performance(as_of: str | None, full: bool) -> None:
        """Refresh the per-vehicle 24 h efficiency table now."""
        moment = _aware(as_of) if as_of else datetime.now(UTC)
        # Three: the refresh's own and, for --full, one for each day the window touches.
        engine = make_engine(current_app.extensions["ev"].settings, pool_size=3)
        with engine.begin() as conn:
            result = performance.refresh(conn, moment, full=full, engine=engine)
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
            settings.partition_days_ahead,
            settings.retention_days,
        )
        if result.skipped:
            raise click.ClickException("another maintenance is running; nothing done, try again")
        click.echo(
            f"created {len(result.created)}, dropped {len(result.dropped)}, "
            f"moved {result.moved_rows} rows"
        )

    @app.cli.group("dead-letters")
    def dead_letters_group() -> None:
        """Readings the database refused: list them, replay them once the cause is fixed."""

    @dead_letters_group.command("list")
    @click.option("--limit", default=100, show_default=True, help="At most this many.")
    @click.option("--after", default=0, help="Only letters with a higher id (to page).")
    def list_dead_letters(limit: int, after: int) -> None:
        """One JSON line per dead letter, oldest first: id, entry, position, record, error."""
        engine = make_engine(current_app.extensions["ev"].settings, pool_size=1)
        with engine.connect() as conn:
            for letter in dead_letters.list_letters(conn, limit, after):
                click.echo(orjson.dumps(letter.view()).decode())

    @dead_letters_group.command("replay")
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--all", "everything", is_flag=True, help="Replay every dead letter.")
    def replay_dead_letters(ids: tuple[int, ...], everything: bool) -> None:
        """Put dead letters (by id, or --all) back on the ingest stream."""
        if bool(ids) == everything:
            raise click.UsageError("give dead-letter ids, or --all")
        services = current_app.extensions["ev"]
        engine = make_engine(services.settings, pool_size=1)
        with engine.connect() as conn:
            letters = dead_letters.list_letters(conn, 10_000_000)
        if ids:
            unknown = set(ids) - {letter.id for letter in letters}
            if unknown:
                raise click.BadParameter(f"no dead letter {', '.join(map(str, sorted(unknown)))}")
            letters = [letter for letter in letters if letter.id in set(ids)]
        try:
            replayed, skipped = dead_letters.replay(
                engine, services.stream, letters, services.settings.stream_max_readings
            )
        except BufferFull as exc:
            raise click.ClickException("the ingest stream is full; try again later") from exc
        click.echo(f"replayed {replayed}, skipped {skipped} (not readings)")

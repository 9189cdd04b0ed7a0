"""The periodic jobs by hand, the same bodies beat's tasks run (jobs.py), and the dead letters
they leave to the operator."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import orjson
from flask.cli import AppGroup, with_appcontext

import jobs
import metrics
from buffer import dead_letters
from buffer.stream import BufferFull, IngestStream
from cli.database import app_settings
from efficiency import alerts
from readings.records import iso_z
from storage.db import make_engine
from storage.redis_client import client_for


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise click.BadParameter("give a zone offset, e.g. 2026-02-10T15:00:00Z")
    return moment


@click.command("refresh-performance")
@click.option("--as-of", "as_of", help="End of the 24 h window (ISO 8601 with zone); default now.")
@click.option("--full", is_flag=True, help="Recompute every minute of the window from history.")
@with_appcontext
def refresh_efficiency(as_of: str | None, full: bool) -> None:
    """Refresh the per-vehicle 24 h efficiency table now."""
    moment = _aware(as_of) if as_of else datetime.now(UTC)
    settings = app_settings()
    # The refresh's own connection and, for --full, the rebuild's builders.
    engine = make_engine(settings, pool_size=1 + settings.builders)
    result = jobs.refresh_efficiency(engine, settings, moment, full=full)
    assert result is not None
    click.echo(
        f"refreshed {result.window_start.isoformat()} .. {result.window_end.isoformat()}: "
        f"{result.vehicles} vehicles, {result.recomputed_minutes} minutes recomputed, "
        f"{result.mode}, {result.seconds:.3f} s"
    )


@click.command("clear-metrics")
def clear_metrics() -> None:
    """Empty METRICS_DIR before the host's processes start (`make run` does; a container's
    tmpfs is empty at each start), as Prometheus's multiprocess mode requires."""
    click.echo(f"removed {metrics.clear_dir()} sample file(s) from {metrics.SHARED_DIR}")


@click.command("maintain-partitions")
@with_appcontext
def maintain_partitions() -> None:
    """Create upcoming day partitions, drop those past RETENTION_DAYS, and pack the days past
    PACK_AFTER_DAYS."""
    settings = app_settings()
    engine = make_engine(settings, pool_size=1)
    result = jobs.maintain_partitions(engine, settings)
    if result.skipped:
        raise click.ClickException("another maintenance is running; nothing done, try again")
    packing = jobs.pack_history(engine, settings)
    click.echo(
        f"created {len(result.created)}, dropped {len(result.dropped)}, "
        f"moved {result.moved_rows} rows, packed {packing.readings} readings "
        f"({packing.device_days} device-days)"
    )


@click.group("dead-letters", cls=AppGroup)
def dead_letters_group() -> None:
    """Readings the database refused: list them, replay them once the cause is fixed."""


@dead_letters_group.command("list")
@click.option("--limit", default=100, show_default=True, help="At most this many.")
@click.option("--after", default=0, help="Only letters with a higher id (to page).")
def list_dead_letters(limit: int, after: int) -> None:
    """One JSON line per dead letter, oldest first: id, entry, position, record, error."""
    engine = make_engine(app_settings(), pool_size=1)
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
    settings = app_settings()
    engine = make_engine(settings, pool_size=1)
    with engine.connect() as conn:
        letters = dead_letters.list_letters(conn, 10_000_000)
    if ids:
        unknown = set(ids) - {letter.id for letter in letters}
        if unknown:
            raise click.BadParameter(f"no dead letter {', '.join(map(str, sorted(unknown)))}")
        letters = [letter for letter in letters if letter.id in set(ids)]
    stream = IngestStream(client_for(settings), settings.redis_key_prefix)
    try:
        replayed, skipped = dead_letters.replay(
            engine, stream, letters, settings.stream_max_readings
        )
    except BufferFull as exc:
        raise click.ClickException("the ingest stream is full; try again later") from exc
    click.echo(f"replayed {replayed}, skipped {skipped} (not readings)")


@click.group("chargers", cls=AppGroup)
def chargers_group() -> None:
    """Chargers whose last sessions all charged under EFFICIENCY_ALERT_BELOW."""


@chargers_group.command("check")
def check_chargers() -> None:
    """Judge every charger now (beat does it every CHARGER_CHECK_SECONDS)."""
    settings = app_settings()
    click.echo(f"{jobs.check_chargers(make_engine(settings, pool_size=1), settings)} failing")


@chargers_group.command("failing")
def failing_chargers() -> None:
    """One JSON line per failing charger, worst last session first, as last checked."""
    with make_engine(app_settings(), pool_size=1).connect() as conn:
        for row in alerts.failing(conn):
            line = {
                "meterId": row["meter_id"],
                "efficiencies": [None if e is None else float(e) for e in row["efficiencies"]],
                "lastSessionEnd": iso_z(row["last_session_end"]),
                "checkedAt": iso_z(row["checked_at"]),
            }
            click.echo(orjson.dumps(line).decode())

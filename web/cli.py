"""`flask --app web <command>`: operator commands, each one unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

import click
import orjson
import redis
from flask import Flask
from flask.cli import AppGroup

from models import credentials, dead_letters, partitions
from models.credential_cache import KnownCredentials
from models.credentials import Device
from models.db import make_engine
from models.efficiency import alerts, performance
from models.readings import iso_z
from models.stream import BufferFull
from models.wire.fields import ID_RE, ID_RULE
from web.cli_db import in_one_transaction, say_unreachable_in_one_line
from web.connections_cli import connections_command
from web.provisioning_cli import export_devices, import_devices
from web.services import services

T = TypeVar("T")


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise click.BadParameter("give a zone offset, e.g. 2026-02-10T15:00:00Z")
    return moment


def register(app: Flask) -> None:
    app.cli.add_command(devices_group)
    app.cli.add_command(chargers_group)
    app.cli.add_command(connections_command)
    _commands(app)
    say_unreachable_in_one_line(app)


def _commands(app: Flask) -> None:
    @app.cli.command("refresh-performance")
    @click.option(
        "--as-of", "as_of", help="End of the 24 h window (ISO 8601 with zone); default now."
    )
    @click.option("--full", is_flag=True, help="Recompute every minute of the window from history.")
    def refresh_performance(as_of: str | None, full: bool) -> None:
        """Refresh the per-vehicle 24 h efficiency table now."""
        moment = _aware(as_of) if as_of else datetime.now(UTC)
        settings = services().settings
        # The refresh's own connection and, for --full, the rebuild's builders.
        engine = make_engine(settings, pool_size=1 + settings.builders)
        with engine.begin() as conn:
            result = performance.refresh(
                conn,
                moment,
                full=full,
                engine=engine,
                session_gap=timedelta(seconds=settings.session_gap_seconds),
                builders=settings.builders,
            )
        assert result is not None
        click.echo(
            f"refreshed {result.window_start.isoformat()} .. {result.window_end.isoformat()}: "
            f"{result.vehicles} vehicles, {result.recomputed_minutes} minutes recomputed, "
            f"{result.mode}, {result.seconds:.3f} s"
        )

    @app.cli.command("clear-metrics")
    def clear_metrics() -> None:
        """Empty METRICS_DIR before the host's processes start (`make run` does; a container's
        tmpfs is empty at each start), as Prometheus's multiprocess mode requires."""
        import metrics

        click.echo(f"removed {metrics.clear_dir()} sample file(s) from {metrics.SHARED_DIR}")

    @app.cli.command("maintain-partitions")
    def maintain_partitions() -> None:
        """Create upcoming day partitions and drop those past RETENTION_DAYS."""
        settings = services().settings
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
        engine = make_engine(services().settings, pool_size=1)
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
        ev = services()
        engine = make_engine(ev.settings, pool_size=1)
        with engine.connect() as conn:
            letters = dead_letters.list_letters(conn, 10_000_000)
        if ids:
            unknown = set(ids) - {letter.id for letter in letters}
            if unknown:
                raise click.BadParameter(f"no dead letter {', '.join(map(str, sorted(unknown)))}")
            letters = [letter for letter in letters if letter.id in set(ids)]
        try:
            replayed, skipped = dead_letters.replay(
                engine, ev.stream, letters, ev.settings.stream_max_readings
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
    settings = services().settings
    with make_engine(settings, pool_size=1).begin() as conn:
        found = alerts.judge(conn, settings.efficiency_alert_below, settings.charger_alert_sessions)
    click.echo(f"{found} failing")


@chargers_group.command("failing")
def failing_chargers() -> None:
    """One JSON line per failing charger, worst last session first, as last checked."""
    with make_engine(services().settings, pool_size=1).connect() as conn:
        for row in alerts.failing(conn):
            line = {
                "meterId": row["meter_id"],
                "efficiencies": [None if e is None else float(e) for e in row["efficiencies"]],
                "lastSessionEnd": iso_z(row["last_session_end"]),
                "checkedAt": iso_z(row["checked_at"]),
            }
            click.echo(orjson.dumps(line).decode())


KIND = click.Choice(credentials.KINDS)


@click.group("devices", cls=AppGroup)
def devices_group() -> None:
    """Per-device tokens: each writes readings for its own meter or vehicle only."""


def _issued(device: Device, token: str) -> None:
    click.echo(token)
    click.echo(
        f"Token for {device.kind} {device.id}: shown once, stored only as a hash. Web processes "
        "know of a change within DEVICE_TOKEN_CACHE_SECONDS.",
        err=True,
    )


devices_group.add_command(import_devices)
devices_group.add_command(export_devices)


@devices_group.command("add")
@click.argument("kind", type=KIND)
@click.argument("device_id")
def add_device(kind: str, device_id: str) -> None:
    """Issue a token for a meter, vehicle or charger (printed once, on stdout). A charger's token
    is its OCPP Basic password and writes its connectors' meters."""
    _check_id(device_id)
    device = Device(kind, device_id)
    _issued(device, in_one_transaction(lambda conn: credentials.add(conn, device)))


@devices_group.command("rotate")
@click.argument("kind", type=KIND)
@click.argument("device_id")
def rotate_device(kind: str, device_id: str) -> None:
    """Revoke the device's token and issue a new one, together."""
    device = Device(kind, device_id)
    token, old = in_one_transaction(lambda conn: credentials.rotate(conn, device))
    _forget(old)
    _issued(device, token)


@devices_group.command("revoke")
@click.argument("kind", type=KIND)
@click.argument("device_id")
def revoke_device(kind: str, device_id: str) -> None:
    """Revoke the device's token: refused within DEVICE_TOKEN_CACHE_SECONDS."""
    _forget(in_one_transaction(lambda conn: credentials.revoke(conn, Device(kind, device_id))))
    click.echo(f"revoked the token of {kind} {device_id}")


def _forget(digest: bytes) -> None:
    """A revoked token leaves the last known credentials too, so that it is not let in while
    PostgreSQL is away. Should Redis be away now, the next web process to ask the primary about
    the token removes it."""
    ev = services()
    try:
        KnownCredentials(ev.stream.redis, ev.settings.redis_key_prefix).put(digest, None)
    except redis.RedisError as exc:
        click.echo(
            f"note: Redis not reached ({exc}); web removes the token from it later", err=True
        )


@devices_group.command("bind")
@click.argument("vehicle_id")
@click.argument("meter_ids", nargs=-1, required=True)
def bind_vehicle(vehicle_id: str, meter_ids: tuple[str, ...]) -> None:
    """Let a vehicle's token name these meters (its readings naming any other are refused)."""
    for device_id in (vehicle_id, *meter_ids):
        _check_id(device_id)
    added = in_one_transaction(lambda conn: credentials.bind(conn, vehicle_id, meter_ids))
    click.echo(
        f"bound vehicle {vehicle_id} to {added} more meter(s); web processes know within "
        "DEVICE_TOKEN_CACHE_SECONDS"
    )


@devices_group.command("unbind")
@click.argument("vehicle_id")
@click.argument("meter_ids", nargs=-1, required=True)
def unbind_vehicle(vehicle_id: str, meter_ids: tuple[str, ...]) -> None:
    """Take meters from those a vehicle's token may name."""
    removed = in_one_transaction(lambda conn: credentials.unbind(conn, vehicle_id, meter_ids))
    click.echo(f"unbound {removed} meter(s) from vehicle {vehicle_id}")


@devices_group.command("bindings")
@click.argument("vehicle_id", required=False)
def list_bindings(vehicle_id: str | None) -> None:
    """One JSON line per vehicle (or the one given): the meters it may name."""
    for row in in_one_transaction(lambda conn: credentials.bindings(conn, vehicle_id)):
        click.echo(orjson.dumps(row).decode())


@devices_group.command("list")
@click.option("--revoked", is_flag=True, help="Include revoked tokens.")
def list_devices(revoked: bool) -> None:
    """One JSON line per token: kind, id, the token's first characters, created, revoked."""
    for row in in_one_transaction(lambda conn: credentials.listing(conn, revoked=revoked)):
        click.echo(orjson.dumps(row).decode())


def _check_id(device_id: str) -> None:
    if not ID_RE.fullmatch(device_id):
        raise click.BadParameter(f"a device id must be {ID_RULE}")

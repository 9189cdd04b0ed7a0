"""`flask --app web devices ...`: per-device tokens, chargers' security profiles, meters' public
keys, vehicles' bindings to meters, and provisioning many devices at once (cli/provisioning.py)."""

from __future__ import annotations

from typing import TextIO

import click
import orjson
import redis
from flask.cli import AppGroup

from cli.database import app_settings, in_one_transaction
from cli.provisioning import export_devices, import_devices
from devices import credentials
from devices.cache import KnownCredentials
from devices.credentials import Device
from readings import ocmf, signed
from readings.fields import ID_RE, ID_RULE
from storage.redis_client import client_for

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


@devices_group.command("profile")
@click.argument("charge_point_id")
@click.argument("profile", type=click.IntRange(1, 3))
def set_security_profile(charge_point_id: str, profile: int) -> None:
    """A charger's OCPP security profile: 1 (Basic, ws:// or wss://), 2 (Basic over wss://
    only) or 3 (wss:// with its client certificate, CN its ID). Refused below it from its next
    connection on."""
    in_one_transaction(lambda conn: credentials.set_profile(conn, charge_point_id, profile))
    click.echo(f"charger {charge_point_id} is at security profile {profile}")


@devices_group.command("key")
@click.argument("meter_id")
@click.argument("key_file", type=click.File("r"), required=False)
@click.option("--remove", is_flag=True, help="Forget the meter's key.")
def meter_key(meter_id: str, key_file: TextIO | None, remove: bool) -> None:
    """The public key a meter's OCMF signed values are verified against: a connector's
    (<chargePointId>:<n>) or a whole charger's, as PEM or as DER in hex or Base64 (as printed on
    a calibrated meter; '-' reads it from stdin). Values already kept are judged against it too."""
    _check_id(meter_id)
    if remove:
        removed = in_one_transaction(lambda conn: signed.remove_key(conn, meter_id))
        click.echo(f"removed the key of meter {meter_id}" if removed else f"{meter_id} had no key")
        return
    if key_file is None:
        raise click.UsageError("give the key's file (or '-' for stdin), or --remove")
    try:
        der = ocmf.load_public_key(key_file.read())
    except ValueError as exc:
        raise click.BadParameter(f"{key_file.name}: {exc}") from None
    in_one_transaction(lambda conn: signed.set_key(conn, meter_id, der))
    click.echo(f"meter {meter_id}'s signed values are verified against this key")


def _forget(digest: bytes) -> None:
    """A revoked token leaves the last known credentials too, so that it is not let in while
    PostgreSQL is away. Should Redis be away now, the next web process to ask the primary about
    the token removes it."""
    settings = app_settings()
    try:
        KnownCredentials(client_for(settings), settings.redis_key_prefix).put(digest, None)
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

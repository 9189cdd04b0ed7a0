"""Per-device credentials: issue, find, revoke, rotate, and the meters a vehicle is bound to.
The token itself is never stored.

A device's token lets it write readings for its own ID only, and a vehicle's only for the meters
an operator bound it to: a vehicle naming a meter claims that meter's minutes, and a claim on a
meter it does not use would make another vehicle's minutes there not exclusive (docs/DESIGN.md,
"Trust"). The role tokens of DEVICE_TOKENS stay fleet-gateway tokens that may write for any
device.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from devices import charger_ids
from models import kinds

# A charger's token writes its connectors' meters (docs/OCPP.md, devices/charger_ids.py).
CHARGER = kinds.CHARGER
KINDS = kinds.DEVICE_KINDS
# Tells a device token from a role token at a glance, and lets the web tier skip the database
# for anything else.
PREFIX = "evd_"
SHOWN = len(PREFIX) + 6
# What new_token() makes: anything else is not a device token, whatever its length, and costs
# neither a query nor a place in a cache.
_WELL_FORMED = re.compile(r"evd_[A-Za-z0-9_-]{43}")


class CredentialError(Exception):
    """What an operator asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class Device:
    kind: str
    id: str
    # A vehicle's bound meters: the only ones its readings may name.
    meters: frozenset[str] = field(default=frozenset(), compare=True)


def writes(device: Device, kind: str, device_id: Any) -> bool:
    """Whether the device's token may write a reading of this kind for this device: its own,
    and a charger's, the meters `<chargePointId>` and `<chargePointId>:<connector>`."""
    if device.kind == CHARGER:
        return (
            kind == kinds.METER.name
            and isinstance(device_id, str)
            and charger_ids.namespace_of(device_id) == device.id
        )
    return kind == device.kind and device_id == device.id


def may_only(device: Device) -> str:
    """What the device's token may write, said to a client that tried something else."""
    if device.kind == CHARGER:
        return (
            f"This token belongs to charger {device.id}: it may only write meter readings "
            f"with meterId {device.id} or {device.id}:<connector>."
        )
    return (
        f"This token belongs to {device.kind} {device.id}: it may only write "
        f"{device.kind} readings with {device.kind}Id {device.id}."
    )


def well_formed(token: str) -> bool:
    return _WELL_FORMED.fullmatch(token) is not None


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def find(conn: Connection, token: str) -> Device | None:
    """The device a live token belongs to (with a vehicle's bound meters), or None."""
    row = conn.execute(
        text(
            "SELECT device_kind, device_id, ARRAY(SELECT meter_id FROM vehicle_meter_bindings b "
            "WHERE device_kind = 'vehicle' AND b.vehicle_id = device_id) AS meters "
            "FROM device_credentials WHERE token_sha256 = :h AND revoked_at IS NULL"
        ),
        {"h": digest(token)},
    ).first()
    return Device(row.device_kind, row.device_id, frozenset(row.meters)) if row else None


def add(conn: Connection, device: Device) -> str:
    """A new token for a device that has no live one; returned once, stored only hashed."""
    _check_kind_and_id(device)
    if _live(conn, device):
        raise CredentialError(
            f"{device.kind} {device.id} already has a live token; rotate it, or revoke it first"
        )
    _refuse_overlaps(conn, [device])
    return _issue(conn, device)


def _issue(conn: Connection, device: Device) -> str:
    token = new_token()
    conn.execute(
        text(
            "INSERT INTO device_credentials (device_kind, device_id, token_sha256, token_prefix) "
            "VALUES (:kind, :id, :h, :prefix)"
        ),
        {"kind": device.kind, "id": device.id, "h": digest(token), "prefix": token[:SHOWN]},
    )
    return token


def _check_kind_and_id(device: Device) -> None:
    if device.kind not in KINDS:
        raise CredentialError(f"a device is one of {', '.join(KINDS)}, not {device.kind!r}")
    if device.kind == CHARGER and (problem := charger_ids.problem(device.id)):
        raise CredentialError(f"{problem}, not {device.id!r}")


def _refuse_overlaps(conn: Connection, devices: list[Device]) -> None:
    problems = charger_ids.overlaps(conn, [(d.kind, d.id) for d in devices])
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise CredentialError(f"IDs overlap a charger's: {'; '.join(problems[:10])}{more}")


# Issue a token to each device that has no live one; the devices that got one, in one statement.
_ADD_MANY = """
INSERT INTO device_credentials (device_kind, device_id, token_sha256, token_prefix)
SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:ids AS text[]), CAST(:hashes AS bytea[]),
                     CAST(:prefixes AS text[]))
ON CONFLICT (device_kind, device_id) WHERE revoked_at IS NULL DO NOTHING
RETURNING device_kind, device_id
"""


def add_many(conn: Connection, devices: Iterable[Device]) -> list[tuple[Device, str]]:
    """A new token for each device that has no live one (the others are left as they are, so
    the same list may be given again): the devices issued one, with their tokens."""
    wanted = {device: new_token() for device in devices}
    if not wanted:
        return []
    for device in wanted:
        _check_kind_and_id(device)
    _refuse_overlaps(conn, list(wanted))
    issued = conn.execute(
        text(_ADD_MANY),
        {
            "kinds": [d.kind for d in wanted],
            "ids": [d.id for d in wanted],
            "hashes": [digest(t) for t in wanted.values()],
            "prefixes": [t[:SHOWN] for t in wanted.values()],
        },
    ).all()
    return [(device, wanted[device]) for device in (Device(r[0], r[1]) for r in issued)]


def revoke(conn: Connection, device: Device) -> bytes:
    """Revoke the device's live token; its hash is returned (to forget it elsewhere too)."""
    if not _live(conn, device):
        raise CredentialError(f"{device.kind} {device.id} has no live token")
    return bytes(
        conn.execute(
            text(
                "UPDATE device_credentials SET revoked_at = now() "
                "WHERE device_kind = :kind AND device_id = :id AND revoked_at IS NULL "
                "RETURNING token_sha256"
            ),
            {"kind": device.kind, "id": device.id},
        ).scalar_one()
    )


def rotate(conn: Connection, device: Device) -> tuple[str, bytes]:
    """Revoke the live token and issue a new one, in the caller's one transaction: the new token
    and the old one's hash."""
    old = revoke(conn, device)
    return _issue(conn, device), old


def bind(conn: Connection, vehicle_id: str, meter_ids: Iterable[str]) -> int:
    """Let the vehicle's readings name these meters; how many were not bound before."""
    rows = [{"v": vehicle_id, "m": m} for m in sorted(set(meter_ids))]
    if not rows:
        return 0
    return int(
        conn.execute(
            text(
                "INSERT INTO vehicle_meter_bindings (vehicle_id, meter_id) VALUES (:v, :m) "
                "ON CONFLICT DO NOTHING"
            ),
            rows,
        ).rowcount
    )


def unbind(conn: Connection, vehicle_id: str, meter_ids: Iterable[str]) -> int:
    """Take meters from the vehicle's bound ones; how many were bound."""
    return int(
        conn.execute(
            text(
                "DELETE FROM vehicle_meter_bindings "
                "WHERE vehicle_id = :v AND meter_id = ANY(:meters)"
            ),
            {"v": vehicle_id, "meters": sorted(set(meter_ids))},
        ).rowcount
    )


def bindings(conn: Connection, vehicle_id: str | None = None) -> list[dict[str, Any]]:
    """Each vehicle (or the one asked for) with the meters it is bound to."""
    rows = conn.execute(
        text(
            "SELECT vehicle_id, array_agg(meter_id ORDER BY meter_id) AS meters "
            "FROM vehicle_meter_bindings "
            + ("WHERE vehicle_id = :v " if vehicle_id else "")
            + "GROUP BY vehicle_id ORDER BY vehicle_id"
        ),
        {"v": vehicle_id},
    )
    return [{"vehicleId": r.vehicle_id, "meters": list(r.meters)} for r in rows]


def listing(conn: Connection, *, revoked: bool = False) -> list[dict[str, Any]]:
    """Every live credential (and the revoked ones, if asked), by device."""
    rows = conn.execute(
        text(
            "SELECT device_kind, device_id, token_prefix, created_at, revoked_at "
            "FROM device_credentials "
            + ("" if revoked else "WHERE revoked_at IS NULL ")
            + "ORDER BY device_kind, device_id, created_at"
        )
    )
    return [
        {
            "kind": r.device_kind,
            "id": r.device_id,
            "token": r.token_prefix + "…",
            "createdAt": _iso(r.created_at),
            "revokedAt": _iso(r.revoked_at),
        }
        for r in rows
    ]


def _live(conn: Connection, device: Device) -> bool:
    return (
        conn.execute(
            text(
                "SELECT 1 FROM device_credentials "
                "WHERE device_kind = :kind AND device_id = :id AND revoked_at IS NULL FOR UPDATE"
            ),
            {"kind": device.kind, "id": device.id},
        ).first()
        is not None
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def set_profile(conn: Connection, charge_point_id: str, profile: int) -> None:
    """Keep a live charger's OCPP security profile (chargers/tls.py): it is never accepted
    below it from its next connection on."""
    if profile not in (1, 2, 3):
        raise CredentialError(f"a security profile is 1, 2 or 3, not {profile}")
    if not _live(conn, Device(CHARGER, charge_point_id)):
        raise CredentialError(f"no live charger {charge_point_id}: add it first")
    conn.execute(
        text(
            "INSERT INTO charger_security_profiles (charge_point_id, profile) VALUES (:cp, :p) "
            "ON CONFLICT (charge_point_id) DO UPDATE SET profile = :p, updated_at = now()"
        ),
        {"cp": charge_point_id, "p": profile},
    )


def profile_of(conn: Connection, charge_point_id: str) -> int:
    """A charger's security profile: 1 unless set."""
    found = conn.execute(
        text("SELECT profile FROM charger_security_profiles WHERE charge_point_id = :cp"),
        {"cp": charge_point_id},
    ).scalar()
    return int(found) if found is not None else 1

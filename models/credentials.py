"""Per-device credentials: issue, find, revoke, rotate. The token itself is never stored.

A device's token lets it write readings for its own ID only; the role tokens of DEVICE_TOKENS
stay what they were, fleet-gateway tokens that may write for any device.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

KINDS = ("meter", "vehicle")
# Tells a device token from a role token at a glance, and lets the web tier skip the database
# for anything else.
PREFIX = "evd_"
SHOWN = len(PREFIX) + 6


class CredentialError(Exception):
    """What an operator asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class Device:
    kind: str
    id: str


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def find(conn: Connection, token: str) -> Device | None:
    """The device a live token belongs to, or None."""
    row = conn.execute(
        text(
            "SELECT device_kind, device_id FROM device_credentials "
            "WHERE token_sha256 = :h AND revoked_at IS NULL"
        ),
        {"h": digest(token)},
    ).first()
    return Device(row.device_kind, row.device_id) if row else None


def add(conn: Connection, device: Device) -> str:
    """A new token for a device that has no live one; returned once, stored only hashed."""
    if device.kind not in KINDS:
        raise CredentialError(f"a device is a meter or a vehicle, not {device.kind!r}")
    if _live(conn, device):
        raise CredentialError(
            f"{device.kind} {device.id} already has a live token; rotate it, or revoke it first"
        )
    token = new_token()
    conn.execute(
        text(
            "INSERT INTO device_credentials (device_kind, device_id, token_sha256, token_prefix) "
            "VALUES (:kind, :id, :h, :prefix)"
        ),
        {"kind": device.kind, "id": device.id, "h": digest(token), "prefix": token[:SHOWN]},
    )
    return token


def revoke(conn: Connection, device: Device) -> None:
    if not _live(conn, device):
        raise CredentialError(f"{device.kind} {device.id} has no live token")
    conn.execute(
        text(
            "UPDATE device_credentials SET revoked_at = now() "
            "WHERE device_kind = :kind AND device_id = :id AND revoked_at IS NULL"
        ),
        {"kind": device.kind, "id": device.id},
    )


def rotate(conn: Connection, device: Device) -> str:
    """Revoke the live token and issue a new one, in the caller's one transaction."""
    revoke(conn, device)
    return add(conn, device)


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

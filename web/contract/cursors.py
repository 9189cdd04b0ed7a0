"""Keyset cursors for the listings: a JSON value, base64url without padding. Opaque to clients,
and whatever one sends back is decoded without error; each listing checks what it holds."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson

INVALID = object()


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode(cursor: str) -> Any:
    """What `encode` was given, or INVALID for anything it could not have made."""
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        return INVALID


def decode_moment(cursor: str) -> datetime | None:
    """A moment a listing encoded, in UTC; None for anything else, a moment whose zone offset
    PostgreSQL would refuse (over 15:59) or that leaves the calendar in UTC included."""
    value = decode(cursor)
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None

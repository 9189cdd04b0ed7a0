"""Bearer tokens: devices may ingest, analysts may read. Role tokens are compared in constant
time; a per-device token is found by its hash (devices/credentials.py) and binds the request to its
device (`g.device`; None for a role token, a fleet gateway that may write for any device)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from devices.credentials import Device
from settings import Settings
from web.errors import Reply, error
from web.services import Services, services

DEVICE, ANALYST = "device", "analyst"


class AuthNotConfigured(RuntimeError):
    pass


def check_configured(settings: Settings) -> None:
    """The service refuses to start open by accident. DEVICE_TOKENS may be empty: devices then
    write with their own tokens (`flask devices add`), and nothing else is let in to ingest."""
    if settings.auth_disabled or settings.analyst_tokens:
        return
    raise AuthNotConfigured(
        "ANALYST_TOKENS not set: give comma-separated bearer tokens, or set AUTH_DISABLED=true "
        "to run without authentication on a closed network."
    )


def _matches(token: str, candidates: tuple[str, ...]) -> bool:
    # Every candidate is compared, so timing says nothing about which one (or whether) matched.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header: the scheme in any case (RFC 9110)
    and any blank after it."""
    parts = (header or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() or None


def role_of(settings: Settings, token: str | None) -> str | None:
    """The role a DEVICE_TOKENS or ANALYST_TOKENS token holds (per-device tokens: see `held`)."""
    if not token:
        return None
    is_device = _matches(token, settings.device_tokens)
    is_analyst = _matches(token, settings.analyst_tokens)
    return DEVICE if is_device else ANALYST if is_analyst else None


def held(app_services: Services, token: str | None) -> tuple[str | None, Device | None]:
    """The token's role and, for a per-device token, its device (None: a fleet gateway)."""
    role = role_of(app_services.settings, token)
    if role is not None or not token:
        return role, None
    device = app_services.credentials.device(token)
    return (DEVICE, device) if device else (None, None)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def require(role_wanted: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            app_services = services()
            g.device = g.token = None
            if app_services.settings.auth_disabled:
                return view(*args, **kwargs)
            g.token = bearer(request.headers.get("Authorization"))
            role, g.device = held(app_services, g.token)
            if role is None:
                return _unauthorized(role_wanted, given=g.token is not None)
            if role != role_wanted:
                return error(
                    "forbidden",
                    f"This is {_a(role)} token; this endpoint needs {_a(role_wanted)} token.",
                    403,
                )
            return view(*args, **kwargs)

        return guarded

    return decorator


def _unauthorized(role_wanted: str, given: bool) -> Reply:
    """401, saying which: no bearer token at all, or one this service does not know (never
    issued, or revoked: not told apart, which would tell a guesser which tokens existed).
    RFC 6750's `invalid_token` in WWW-Authenticate for the second."""
    if given:
        message = (
            f"The bearer token is not one this service knows, or it was revoked: send "
            f"{_a(role_wanted)} token."
        )
        challenge = 'Bearer realm="ev-telemetry", error="invalid_token"'
    else:
        message = (
            f"No bearer token: send 'Authorization: Bearer <token>' with {_a(role_wanted)} token."
        )
        challenge = 'Bearer realm="ev-telemetry"'
    body, status, headers = error("unauthorized", message, 401)
    return body, status, {**headers, "WWW-Authenticate": challenge}

"""Bearer tokens: devices may ingest, analysts may read. Compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, request

from settings import Settings

DEVICE, ANALYST = "device", "analyst"


class AuthNotConfigured(RuntimeError):
    pass


def check_configured(settings: Settings) -> None:
    """The service refuses to start open by accident."""
    if settings.auth_disabled:
        return
    missing = [
        name
        for name, tokens in (
            ("DEVICE_TOKENS", settings.device_tokens),
            ("ANALYST_TOKENS", settings.analyst_tokens),
        )
        if not tokens
    ]
    if missing:
        raise AuthNotConfigured(
            f"{' and '.join(missing)} not set: give comma-separated bearer tokens, or set "
            "AUTH_DISABLED=true to run without authentication on a closed network."
        )


def _matches(token: str, candidates: tuple[str, ...]) -> bool:
    # Every candidate is compared, so timing says nothing about which one (or whether) matched.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def role_of(settings: Settings, header: str | None) -> str | None:
    if not header or not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    if not token:
        return None
    is_device = _matches(token, settings.device_tokens)
    is_analyst = _matches(token, settings.analyst_tokens)
    return DEVICE if is_device else ANALYST if is_analyst else None


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def require(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            settings: Settings = current_app.extensions["ev"].settings
            if settings.auth_disabled:
                return view(*args, **kwargs)
            held = role_of(settings, request.headers.get("Authorization"))
            if held is None:
                return (
                    {
                        "error": "unauthorized",
                        "message": f"Send 'Authorization: Bearer <token>' with {_a(role)} token.",
                    },
                    401,
                    {"WWW-Authenticate": 'Bearer realm="ev-telemetry"'},
                )
            if held != role:
                return (
                    {
                        "error": "forbidden",
                        "message": f"This is {_a(held)} token; "
                        f"this endpoint needs {_a(role)} token.",
                    },
                    403,
                )
            return view(*args, **kwargs)

        return guarded

    return decorator

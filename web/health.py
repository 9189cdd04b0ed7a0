"""Liveness and readiness, open to probes without a token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from web.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    ev = services()
    checks: dict[str, str] = {}
    try:
        with ev.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["postgres"] = f"unavailable: {type(exc).__name__}"
    try:
        ev.stream.redis.ping()
        policy = ev.stream.evicting_policy()
        checks["redis"] = (
            f"unsafe: maxmemory-policy {policy} may evict queued readings; set noeviction"
            if policy
            else "ok"
        )
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503

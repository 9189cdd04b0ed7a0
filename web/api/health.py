"""Liveness and readiness, open to probes without a token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from web import routes
from web.services import services

bp = Blueprint("health", __name__)


@bp.get(routes.HEALTHZ)
def healthz() -> Any:
    return {"status": "ok"}


@bp.get(routes.READYZ)
def readyz() -> Any:
    app_services = services()
    checks: dict[str, str] = {}
    try:
        with app_services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["postgres"] = f"unavailable: {type(exc).__name__}"
    try:
        app_services.stream.redis.ping()
        policy = app_services.stream.evicting_policy()
        checks["redis"] = (
            f"unsafe: maxmemory-policy {policy} may evict queued readings; set noeviction"
            if policy
            else "ok"
        )
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503

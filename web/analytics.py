"""GET /v1/analytics/performance/<vehicleId>: the refreshed 24 h efficiency of one vehicle."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from models import db, performance
from web.auth import ANALYST, require
from web.errors import error
from web.schemas import ID_RE, ID_RULE

bp = Blueprint("analytics", __name__)

NO_DATA = "No charging data found in last 24 hours"


@bp.get("/v1/analytics/performance/<vehicle_id>")
@require(ANALYST)
def vehicle_performance(vehicle_id: str) -> Any:
    if not ID_RE.fullmatch(vehicle_id):
        return error("invalid_id", f"vehicleId must be {ID_RULE}.", 400)
    view = db.read(
        current_app.extensions["ev"].engine, lambda conn: performance.read(conn, vehicle_id)
    )
    if view is None:
        return {"vehicleId": vehicle_id, "message": NO_DATA}, 404
    return view

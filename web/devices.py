"""GET /v1/meters/<meterId> and /v1/vehicles/<vehicleId>: a device's newest reading."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from models import current_state, db
from web import responses
from web.auth import ANALYST, require
from web.errors import error
from web.schemas import ID_RE, ID_RULE
from web.services import services

bp = Blueprint("devices", __name__)


def _current(kind: str, device_id: str, read: Any, answer: Any) -> Any:
    if not ID_RE.fullmatch(device_id):
        return error("invalid_id", f"{kind}Id must be {ID_RULE}.", 400)
    row = db.read(services().engine, lambda conn: read(conn, device_id))
    if row is None:
        return {f"{kind}Id": device_id, "message": f"No reading received from this {kind}"}, 404
    return answer(row)


@bp.get("/v1/meters/<meter_id>")
@require(ANALYST)
def meter(meter_id: str) -> Any:
    return _current("meter", meter_id, current_state.meter, responses.meter_state)


@bp.get("/v1/vehicles/<vehicle_id>")
@require(ANALYST)
def vehicle(vehicle_id: str) -> Any:
    return _current("vehicle", vehicle_id, current_state.vehicle, responses.vehicle_state)

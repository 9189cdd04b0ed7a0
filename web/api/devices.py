"""GET /v1/<kind>s/<id> for every kind (/v1/meters/<meter_id>, /v1/vehicles/<vehicle_id>): a
device's newest reading."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint

from models.kinds import KINDS, Kind
from readings import current_state
from storage import db
from web import routes
from web.auth import ANALYST, require
from web.contract import responses
from web.errors import invalid_id
from web.routes import flask
from web.services import services

bp = Blueprint("devices", __name__)


def _current(kind: Kind, **path: str) -> Any:
    device_id = path[kind.id_column]
    if (bad := invalid_id(kind.id_wire, device_id)) is not None:
        return bad
    row = db.read(services().engine, partial(_newest, kind, device_id))
    if row is None:
        return responses.no_data(kind, device_id, f"No reading received from this {kind.name}")
    return responses.state(kind, row)


def _newest(kind: Kind, device_id: str, conn: Any) -> Any:
    return current_state.newest(conn, kind, device_id)


for _kind in KINDS:
    # The rule (`<meter_id>`) is also the route's label in the metrics.
    bp.add_url_rule(
        flask(routes.device(_kind), **{_kind.id_wire: _kind.id_column}),
        endpoint=_kind.name,
        view_func=require(ANALYST)(partial(_current, _kind)),
    )

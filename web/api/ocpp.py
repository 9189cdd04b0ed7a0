"""POST /v1/ocpp/<version>/<chargePointId>: a charger's OCPP-J CALL frame, forwarded over HTTP by
a central system that owns the chargers' connections. It is handled exactly as the WebSocket
server handles it (chargers/central.py) and answered 200 with the frame the charger would have
got: a CALLRESULT, or a CALLERROR (then nothing of it is confirmed as stored: send it again).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, g, request
from sqlalchemy.exc import SQLAlchemyError

from chargers.central import CENTRALS, Central16, Central201
from devices import charger_ids, credentials
from web import routes
from web.auth import DEVICE, require
from web.contract.bodies import BodyRefused, read_body
from web.errors import error
from web.routes import flask
from web.services import Services, services

log = logging.getLogger(__name__)
bp = Blueprint("ocpp", __name__)
VERSIONS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
CALL = 2


class _Answer:
    """A connection that keeps what the handler sends back."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def recv(self) -> str:  # never called: frames are routed one at a time
        raise NotImplementedError


def quietly_heard(app_services: Services, charge_point_id: str) -> None:
    """With the database away this is logged, never a reason to refuse the frame."""
    try:
        app_services.ocpp.heard_forwarded(charge_point_id, datetime.now(UTC))
    except SQLAlchemyError as exc:
        log.warning(
            "event=charger_presence_not_recorded charger=%s error=%r", charge_point_id, str(exc)
        )


@bp.post(flask(routes.OCPP))
@require(DEVICE)
def forward(version: str, charge_point_id: str) -> Any:
    protocol = VERSIONS.get(version)
    if protocol is None:
        return error(
            "unknown_ocpp_version", f"OCPP {version!r} is not spoken here: use 1.6 or 2.0.1.", 404
        )
    problem = charger_ids.problem(charge_point_id)
    if problem:
        return error("invalid_id", f"chargePointId: {problem}.", 400)
    device = g.device
    if device is not None and not (
        device.kind == credentials.CHARGER and device.id == charge_point_id
    ):
        return error(
            "forbidden",
            f"This token belongs to {device.kind} {device.id}: it may not speak for charger "
            f"{charge_point_id}.",
            403,
        )
    app_services = services()
    try:
        body = read_body(request, app_services.settings.max_body_bytes)
    except BodyRefused as exc:
        return error(exc.code, exc.message, exc.status)
    try:
        frame = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error("malformed_json", f"The body is not valid JSON: {exc}.", 400)
    if not (isinstance(frame, list) and len(frame) == 4 and frame[0] == CALL):
        return error(
            "not_a_call",
            'The body must be one OCPP-J CALL frame: [2, "<uniqueId>", "<Action>", {...}].',
            400,
        )
    # A forwarded charger is heard through its central system: silence means offline.
    quietly_heard(app_services, charge_point_id)
    answer = _Answer()
    central: Central16 | Central201 = CENTRALS[protocol](charge_point_id, answer, app_services.ocpp)
    asyncio.run(central.route_message(body))
    return Response(answer.sent[-1], 200, mimetype="application/json")

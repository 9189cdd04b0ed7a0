"""The devices' operations of the OpenAPI document (web/openapi/document.py assembles it):
ingest, and the OCPP frames a central system forwards. The analysts' paths are in
web/openapi/paths.py."""

from __future__ import annotations

from apispec import APISpec

from models.kinds import KINDS
from settings import Settings
from web import routes
from web.openapi.paths import device_id, errors, json_answer


def ocpp_forward(spec: APISpec) -> None:
    frame = {"type": "array", "description": "An OCPP-J frame: [messageTypeId, uniqueId, ...]."}
    spec.path(
        path=routes.OCPP,
        operations={
            "post": {
                "summary": "A charger's OCPP CALL frame, forwarded by a central system",
                "description": "The body is one OCPP-J CALL frame, [2, uniqueId, action, "
                "payload], as the charger sent it; the answer is the CALLRESULT or CALLERROR "
                "frame the charger would have got over its WebSocket (docs/OCPP.md). Readings "
                "are confirmed (a CALLRESULT) only once durably queued; a CALLERROR means "
                "nothing of the message is confirmed: send it again. The token is a gateway's, "
                "or the charger's own (`flask devices add charger <chargePointId>`).",
                "security": [{"device": []}],
                "parameters": [
                    {
                        "in": "path",
                        "name": "version",
                        "required": True,
                        "schema": {"type": "string", "enum": ["1.6", "2.0.1"]},
                    },
                    device_id("chargePointId"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": frame}},
                },
                "responses": {
                    "200": json_answer(
                        frame,
                        "The charger's answer: [3, uniqueId, payload] or "
                        "[4, uniqueId, errorCode, description, details].",
                    ),
                    "404": json_answer("Error", "An OCPP version other than 1.6 and 2.0.1."),
                    **errors(400, 401, 403, 408, 413, 415, 429, 503),
                },
            }
        },
    )


def ingest(spec: APISpec, settings: Settings) -> None:
    reading = {"oneOf": [{"$ref": f"#/components/schemas/{kind.title}Reading"} for kind in KINDS]}
    spec.path(
        path=routes.INGEST,
        operations={
            "post": {
                "summary": "Ingest one reading or an array of readings",
                "description": f"At most {settings.max_readings_per_request} readings and "
                f"{settings.max_body_bytes} bytes. Valid readings are kept even when others are "
                "rejected; 202 means they are durably queued. The body may be gzipped "
                "(Content-Encoding: gzip); the byte limit holds for it uncompressed too. With a "
                "device's own token, readings of other devices are rejected by index, and a "
                "vehicle's readings may name only the meters it is bound to. Values are rounded "
                "to what is stored (energy to 6 decimals, the rest to hundredths) before their "
                "bounds are checked. A timestamp must carry a zone offset in whole minutes and at "
                "most 6 fractional digits, be at most "
                f"{settings.max_future_skew_seconds} s in the future and at most "
                f"{settings.retention_days} days old. 503 when the buffer is unreachable, full, "
                "may evict what it holds (Redis maxmemory-policy), or (with REDIS_REPLICA_ACKS) "
                "not enough replicas confirmed the readings in time.",
                "security": [{"device": []}],
                "parameters": [
                    {
                        "name": "Unknown-Fields",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "enum": ["reject", "ignore"]},
                        "description": "reject (the default): a reading with a field no kind "
                        "of reading has is rejected. ignore: such fields are dropped and named "
                        "in ignoredFields, and the reading is judged on the rest (for firmware "
                        "newer than the service).",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    reading,
                                    {
                                        "type": "array",
                                        "items": reading,
                                        "minItems": 1,
                                        "maxItems": settings.max_readings_per_request,
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "202": json_answer(
                        "IngestResult", "Queued; rejected readings listed by index."
                    ),
                    "422": json_answer("IngestResult", "No valid reading in the body."),
                    **errors(400, 401, 403, 408, 413, 415, 429, 503),
                },
            }
        },
    )

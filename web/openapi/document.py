"""The OpenAPI 3 document, generated from what the service itself uses: the ingest schemas
(with this deployment's bounds), the query schemas the views load their parameters with, the
response schemas of web/openapi/answers.py, and for every kind of reading its routes (the paths
are described in web/openapi/paths.py and web/openapi/device_paths.py). Served open at
/openapi.json.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint
from flask_swagger_ui import get_swaggerui_blueprint

from models.kinds import KINDS
from readings.fields import Timestamp, UtcMoment
from readings.validation import build_schemas
from settings import Settings
from web import routes
from web.openapi import answers
from web.openapi.device_paths import ingest, ocpp_forward
from web.openapi.paths import (
    analytics_paths,
    availability_paths,
    json_answer,
    kind_paths,
    samples_paths,
    session_paths,
    signed_values_paths,
)
from web.services import services

bp = Blueprint("openapi", __name__)


@functools.cache
def build_spec(settings: Settings) -> dict[str, Any]:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="EV charging telemetry",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[plugin],
        info={
            "description": "Ingest of smart-meter (AC) and vehicle battery (DC) readings, and "
            "each vehicle's charging efficiency over the last 24 hours."
        },
    )
    plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    plugin.map_to_openapi_type(UtcMoment, "string", "date-time")
    for role, description in (
        (
            "device",
            "A fleet gateway's token of DEVICE_TOKENS (any device), or a device's own token from "
            "`flask devices add` (its own readings only; others are rejected by index).",
        ),
        ("analyst", "A token of ANALYST_TOKENS."),
    ):
        scheme = {"type": "http", "scheme": "bearer", "description": description}
        spec.components.security_scheme(role, scheme)
    # The clock is never called: documenting a schema validates nothing.
    schemas = build_schemas(settings, clock=lambda: datetime.now(UTC))
    for kind in KINDS:
        spec.components.schema(f"{kind.title}Reading", schema=schemas[kind.name])
    for name in answers.DOCUMENTED:
        spec.components.schema(name, schema=getattr(answers, name))

    ingest(spec, settings)
    ocpp_forward(spec)
    analytics_paths(spec)
    session_paths(spec)
    for kind in KINDS:
        kind_paths(spec, kind)
    availability_paths(spec)
    samples_paths(spec)
    signed_values_paths(spec)
    metrics_page = {
        "description": "Text exposition format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    for path, summary, responses in (
        (
            routes.HEALTHZ,
            "The process is alive",
            {"200": json_answer({"type": "object"}, "Alive.")},
        ),
        (
            routes.READYZ,
            "PostgreSQL and Redis are reachable",
            {
                "200": json_answer("Readiness", "Ready."),
                "503": json_answer("Readiness", "A backing service is unavailable."),
            },
        ),
        (routes.METRICS, "Prometheus metrics", {"200": metrics_page}),
    ):
        spec.path(path=path, operations={"get": {"summary": summary, "responses": responses}})
    return _ecma_patterns(spec.to_dict())


def _ecma_patterns(node: Any) -> Any:
    """Python's end-of-string anchor as JSON Schema (ECMA 262) writes it."""
    if isinstance(node, dict):
        return {
            k: v.replace("\\Z", "$") if k == "pattern" else _ecma_patterns(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ecma_patterns(v) for v in node]
    return node


# Swagger UI from the flask-swagger-ui package: its files are served from here, no CDN.
docs = get_swaggerui_blueprint(
    routes.DOCS, routes.OPENAPI, config={"app_name": "EV charging telemetry API"}
)


@bp.get("/openapi.json")
def openapi() -> Any:
    return build_spec(services().settings)

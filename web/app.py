"""`create_app()`: the Flask app, its services and its blueprints, one per domain."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask
from flask.json.provider import JSONProvider

from settings import Settings, get_settings
from web import (
    analytics,
    cli,
    dashboard,
    devices,
    errors,
    health,
    history,
    ingest,
    meter_analytics,
    monitoring,
    ocpp,
    openapi,
    requests_log,
    security,
    sessions,
)
from web.responses import json_default
from web.services import build


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=json_default).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask("web")
    app.json = OrjsonProvider(app)
    # Flask answers 413 itself when a Content-Length is past this; a chunked body is cut here
    # instead, one byte past the limit, so that ingest can tell it was too large.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.extensions["ev"] = build(settings)
    for module in (
        ingest,
        ocpp,
        analytics,
        meter_analytics,
        devices,
        history,
        sessions,
        health,
        monitoring,
        openapi,
        dashboard,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(openapi.docs)
    errors.register(app)
    requests_log.register(app)
    security.register(app)
    cli.register(app)
    return app

"""`create_app()`: the Flask app, its services and its blueprints, one per domain."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask
from flask.json.provider import JSONProvider

import cli
from settings import Settings, get_settings
from web import errors
from web.api import (
    availability,
    dashboard,
    devices,
    health,
    history,
    ingest,
    meters,
    monitoring,
    ocpp,
    samples,
    sessions,
    signed_values,
    vehicles,
)
from web.contract.responses import json_default
from web.openapi import document
from web.services import build
from web.serving import requests_log, security


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
    app.config["EV_SETTINGS"] = settings  # what the operator's commands run with (cli/)
    app.extensions["ev"] = build(settings)
    for module in (
        ingest,
        ocpp,
        vehicles,
        meters,
        devices,
        history,
        sessions,
        samples,
        signed_values,
        availability,
        health,
        monitoring,
        document,
        dashboard,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(document.docs)
    errors.register(app)
    requests_log.register(app)
    security.register(app)
    cli.register(app)
    return app

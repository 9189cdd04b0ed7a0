"""The HTTP service: `create_app()` builds it; `flask --app web <command>` runs its commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from flask import Flask, current_app
from flask.json.provider import JSONProvider
from sqlalchemy import Engine

from models.db import make_reader
from models.redis_client import client_for
from models.stream import EvictionGuard, IngestStream
from settings import Settings, get_settings
from web.credentials import CredentialCache, KnownCredentials
from web.rate_limit import RateLimiter
from web.schemas import ReadingValidator

if TYPE_CHECKING:
    from web.performance_cache import PerformanceCache


@dataclass
class Services:
    settings: Settings
    engine: Engine
    stream: IngestStream
    validator: ReadingValidator
    eviction: EvictionGuard
    credentials: CredentialCache
    rate_limiter: RateLimiter
    performance_cache: PerformanceCache


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    # Flask answers 413 itself when a Content-Length is past this; a chunked body is cut here
    # instead, one byte past the limit, so that ingest can tell it was too large.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    # Here, not at the top: it builds responses with modules that import this package.
    from web.performance_cache import PerformanceCache

    stream = IngestStream(client_for(settings), settings.redis_key_prefix)
    engine = make_reader(settings, pool_size=settings.web_threads)
    # Credentials are read from the primary: a revocation counts once it commits.
    primary = (
        make_reader(settings, pool_size=1, primary=True) if settings.database_read_url else engine
    )
    app.extensions["ev"] = Services(
        settings=settings,
        engine=engine,
        stream=stream,
        validator=ReadingValidator(settings),
        eviction=EvictionGuard(stream),
        credentials=CredentialCache(
            primary,
            KnownCredentials(stream.redis, settings.redis_key_prefix),
            settings.device_token_cache_seconds,
        ),
        rate_limiter=RateLimiter(
            stream.redis,
            settings.redis_key_prefix,
            settings.device_rate_per_minute,
            settings.gateway_rate_per_minute,
        ),
        performance_cache=PerformanceCache(engine, settings.read_cache_seconds),
    )

    from web import (
        analytics,
        cli,
        dashboard,
        devices,
        errors,
        health,
        history,
        ingest,
        monitoring,
        openapi,
        requests_log,
        security,
    )

    for module in (ingest, analytics, devices, history, health, monitoring, openapi, dashboard):
        app.register_blueprint(module.bp)
    app.register_blueprint(openapi.docs)
    errors.register(app)
    requests_log.register(app)
    security.register(app)
    cli.register(app)
    return app


def services(app: Flask | None = None) -> Services:
    """What the app was built with (settings, engine, stream...): of `app`, else the current one."""
    return (app or current_app).extensions["ev"]

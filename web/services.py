"""What a web app is built with, in one place: settings, the database engines, the stream, the
validator, the caches. Every view reaches them through `services()`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine

from buffer.stream import EvictionGuard, IngestStream
from chargers.backend import Backend
from chargers.mapping import Contract
from devices.cache import CredentialCache, KnownCredentials
from readings.validation import ReadingValidator
from settings import Settings
from storage import connections
from storage.db import make_engine, make_reader
from storage.redis_client import client_for
from web.api.efficiency_cache import EfficiencyCache
from web.api.rate_limit import RateLimiter


@dataclass
class Services:
    settings: Settings
    engine: Engine
    stream: IngestStream
    validator: ReadingValidator
    eviction: EvictionGuard
    credentials: CredentialCache
    rate_limiter: RateLimiter
    efficiency_cache: EfficiencyCache
    # OCPP frames forwarded over HTTP (web/api/ocpp.py): the stream, and the primary for
    # transactions.
    ocpp: Backend


def build(settings: Settings) -> Services:
    stream = IngestStream(client_for(settings), settings.redis_key_prefix)
    engine = make_reader(settings, pool_size=settings.web_threads)
    # Credentials are read from the primary: a revocation counts once it commits.
    primary = (
        make_reader(settings, pool_size=connections.WEB_PRIMARY_POOL, primary=True)
        if settings.database_read_url
        else engine
    )
    # One contract for both doors: ingest's readings and chargers' forwarded frames.
    validator = ReadingValidator(settings)
    return Services(
        settings=settings,
        engine=engine,
        stream=stream,
        validator=validator,
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
        efficiency_cache=EfficiencyCache(engine, settings.read_cache_seconds),
        ocpp=Backend(
            settings,
            stream,
            make_engine(
                settings, pool_size=connections.WEB_OCPP_POOL, application_name="ev-web-ocpp"
            ),
            Contract(validator),
        ),
    )


def services(app: Flask | None = None) -> Services:
    """What the app was built with (settings, engine, stream...): of `app`, else the current one."""
    return (app or current_app).extensions["ev"]

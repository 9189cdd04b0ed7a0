"""A worker process's connections, made on first use: each forked pool process gets its own."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine

from buffer.stream import IngestStream
from settings import get_settings
from storage.connections import WORKER_POOL
from storage.db import make_engine
from storage.redis_client import client_for
from workers.consumer import POLL_MS


@cache
def engine() -> Engine:
    return make_engine(get_settings(), pool_size=WORKER_POOL, application_name="ev-worker")


@cache
def stream() -> IngestStream:
    settings = get_settings()
    client = client_for(settings, block_ms=POLL_MS)
    return IngestStream(client, settings.redis_key_prefix)

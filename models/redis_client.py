"""Connections to Redis, every call bounded in time: to REDIS_URL's server or, through Sentinels,
to whichever server is the master at the time."""

from __future__ import annotations

from typing import Any

import redis
from redis.connection import parse_url
from redis.sentinel import Sentinel

from settings import Settings


def connect(url: str, timeout_seconds: float, block_ms: int = 0) -> redis.Redis:
    """A client whose every call is bounded: a dead Redis is an error in seconds, never a hang."""
    return redis.Redis.from_url(url, **_bounded(timeout_seconds, block_ms))


def client_for(settings: Settings, block_ms: int = 0) -> redis.Redis:
    """The stream's Redis: REDIS_URL's server, or the master the Sentinels name at the time.

    Through Sentinels, a connection that finds its server gone, or demoted to a replica, is an
    error (as with a dead server) and the next one asks the Sentinels again: a failover needs no
    restart, and what was not answered 202 meanwhile is sent again by its device.
    """
    if not settings.redis_sentinels:
        return connect(settings.redis_url, settings.redis_timeout_seconds, block_ms)
    server = {k: v for k, v in parse_url(settings.redis_url).items() if k in _SERVER_OPTIONS}
    sentinel_auth = (
        {"password": settings.redis_sentinel_password} if settings.redis_sentinel_password else {}
    )
    sentinels = Sentinel(
        list(settings.redis_sentinels),
        sentinel_kwargs={**_bounded(settings.redis_timeout_seconds), **sentinel_auth},
    )
    return sentinels.master_for(
        settings.redis_sentinel_master,
        **server,
        **_bounded(settings.redis_timeout_seconds, block_ms),
    )


# What REDIS_URL still says when the Sentinels name the server.
_SERVER_OPTIONS = ("db", "username", "password")


def _bounded(timeout_seconds: float, block_ms: int = 0) -> dict[str, Any]:
    return {
        "socket_connect_timeout": timeout_seconds,
        "socket_timeout": timeout_seconds + block_ms / 1000,
        "health_check_interval": 30,
        "protocol": 2,
    }


def key(prefix: str, *parts: str) -> str:
    """A key of this deployment: every key shares the `{prefix}` hash tag, so that they all sit
    in one Redis Cluster slot and the stream's scripts may touch several at once."""
    return ":".join((f"{{{prefix}}}", *parts))

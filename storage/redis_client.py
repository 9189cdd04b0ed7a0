"""Connections to Redis, every call bounded in time: to REDIS_URL's server or, through Sentinels,
to whichever server is the master at the time. One Redis (with its replicas), never a Redis
Cluster: docs/SCALING.md has the measured ceiling of one and what to do past it."""

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


class RedisClusterRefused(RuntimeError):
    pass


def refuse_cluster(settings: Settings) -> None:
    """Raise, saying why, when the Redis we were given is a Redis Cluster node. The buffer is one
    stream with its counters, moved together by scripts: on a cluster it would sit in one slot of
    one node (no sharding), behind a client that does not follow MOVED. A Redis unreachable now
    is no reason not to start: every process waits for it as it always does."""
    client = client_for(settings)
    try:
        enabled = client.info("cluster").get("cluster_enabled")
    except redis.RedisError:
        return
    finally:
        client.close()
    if enabled:
        raise RedisClusterRefused(
            "REDIS_URL is a Redis Cluster node; the service runs on one Redis with its replicas "
            '(Sentinel for failover). One carries the largest fleets: docs/SCALING.md, "Redis"'
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
    """A key of this deployment, under its `{prefix}`; the braces keep every key of a deployment
    together were its Redis ever sharded by key (the scripts touch several at once)."""
    return ":".join((f"{{{prefix}}}", *parts))

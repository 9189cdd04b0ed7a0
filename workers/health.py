"""Container health checks for the worker and beat: `python -m workers.health worker|beat`
exits 0 when healthy, 1 with a reason on stderr otherwise (docker-compose.yml runs them).

worker: this host's Celery worker answers a ping through the broker (a hung worker does not).
beat: some beat holds the schedule's lease in Redis (workers/beat.py), so the periodic jobs are
being sent; a standby beat is healthy while another holds it.
"""

from __future__ import annotations

import socket
import sys

import redis

from settings import get_settings
from storage.redis_client import key
from workers import resources


def worker_answers(timeout: float = 5.0) -> bool:
    from workers.celery_app import app

    replies = app.control.ping(destination=[f"celery@{socket.gethostname()}"], timeout=timeout)
    return bool(replies)


def lease_held(client: redis.Redis, prefix: str) -> bool:
    return bool(client.exists(key(prefix, "beat", "leader")))


def main(argv: list[str]) -> int:
    settings = get_settings()
    if argv == ["worker"]:
        healthy, why = worker_answers(), "the worker did not answer a ping"
    elif argv == ["beat"]:
        try:
            # The service's own client: Sentinel-aware where REDIS_SENTINELS is set.
            client = resources.stream().redis
            healthy, why = lease_held(client, settings.redis_key_prefix), "no beat holds the lease"
        except redis.RedisError as exc:
            healthy, why = False, f"Redis: {exc}"
    else:
        print("usage: python -m workers.health worker|beat", file=sys.stderr)
        return 2
    if not healthy:
        print(why, file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

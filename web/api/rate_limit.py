"""Per-token request limits on ingest, counted in Redis so every web process and host shares them.

Fixed one-minute windows: one pipelined INCR + EXPIRE per request. A device's own token gets
DEVICE_RATE_PER_MINUTE; a fleet gateway's role token GATEWAY_RATE_PER_MINUTE (0: no limit, the
default, so set-ups from before per-device tokens keep their throughput). Answers carry the
RateLimit-Limit / -Remaining / -Reset headers; over the limit, 429 with Retry-After, and nothing
of that request is queued.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import redis

from devices.credentials import Device
from storage.redis_client import key as redis_key

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    limit: int
    used: int
    reset_seconds: int

    @property
    def allowed(self) -> bool:
        return self.used <= self.limit

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.limit - self.used)),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str, per_device: int, per_gateway: int) -> None:
        self.redis, self.prefix = client, prefix
        self.per_device, self.per_gateway = per_device, per_gateway

    def check(self, token: str, device: Device | None) -> Verdict | None:
        """Count this request against its token; None when no limit applies (or Redis cannot
        say: the add that follows answers 503 then, so nothing is let through unbounded)."""
        limit = self.per_device if device else self.per_gateway
        if not limit:
            return None
        who = (
            f"{device.kind}:{device.id}"
            if device
            else "gateway:" + hashlib.sha256(token.encode()).hexdigest()[:24]
        )
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = redis_key(self.prefix, "rate", who, str(window))
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 2 * WINDOW_SECONDS)
            used, _ = pipe.execute()
        except redis.RedisError as exc:
            log.warning("event=rate_limit_unknown error=%r", str(exc))
            return None
        reset = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        return Verdict(limit, int(used), reset)

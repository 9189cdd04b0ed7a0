"""Beat on every host, sending from one: the scheduler sends only while it holds a lease in
Redis, renewed every few seconds. A standby beat (on another host) takes over within
BEAT_LEASE_SECONDS of the holder's death, at once when it stops cleanly. A stale leader (paused
past its lease) may still send once; the jobs themselves take PostgreSQL advisory locks, so two
refreshes or maintenances never run at once whatever beat does."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import uuid
from typing import Any

import redis
from celery.beat import PersistentScheduler

from settings import get_settings
from storage.redis_client import key
from workers import resources

log = logging.getLogger(__name__)

# Keep the lease if it is ours, else take it if it is free: 1 when held after the call.
_HOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    def __init__(self, client: redis.Redis, prefix: str, seconds: int) -> None:
        self.key = key(prefix, "beat", "leader")
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.ms = seconds * 1000
        self._hold = client.register_script(_HOLD)
        self._release = client.register_script(_RELEASE)
        self.client = client
        self.held: bool | None = None  # unknown until first asked: the first answer is logged

    def hold(self) -> bool:
        """Whether this beat may send now. Redis unreachable: no (nor may anyone else)."""
        try:
            held = bool(self._hold(keys=[self.key], args=[self.me, self.ms]))
        except redis.RedisError as exc:
            log.warning("event=beat_lease_unknown error=%r", str(exc))
            held = False
        if held != self.held:
            self.held = held
            holder = self.me if held else self.holder()
            log.info("event=%s holder=%s", "beat_leader" if held else "beat_standby", holder)
        return held

    def holder(self) -> str:
        try:
            value: Any = self.client.get(self.key)
        except redis.RedisError:
            return "unknown"
        return value.decode() if value else "none"

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):  # else it expires by itself
            self._release(keys=[self.key], args=[self.me])


class LeaderScheduler(PersistentScheduler):
    """celeryconfig's beat_scheduler."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Beat opens its schedule file before its beat_init signal, where the other checks run:
        # on a fresh host (no DATA_DIR yet) it would crash instead of making the directory.
        schedule = kwargs.get("schedule_filename") or ""
        try:
            os.makedirs(os.path.dirname(os.path.abspath(schedule)), exist_ok=True)
        except OSError as exc:
            sys.stderr.write(
                f"ev beat refuses to start: cannot make the directory of {schedule}: {exc}\n"
            )
            raise SystemExit(1) from exc
        settings = get_settings()
        self.lease = Lease(
            resources.stream().redis, settings.redis_key_prefix, settings.beat_lease_seconds
        )
        # Renewed well within its life, whatever the schedule's own next due time.
        self.renew_every = max(1.0, settings.beat_lease_seconds / 3)
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.lease.hold():
            return self.renew_every
        return min(super().tick(*args, **kwargs), self.renew_every)

    def close(self) -> None:
        super().close()
        self.lease.release()

"""The ingest buffer: a Redis Stream read by one consumer group.

A request's valid readings become entries of at most ENTRY_READINGS readings each, added together
by one script. An entry stays in the group's pending list until a worker acknowledges it after its
batch committed, so a crash at any point leaves it to be read again. A counter of the readings not
yet acknowledged is kept beside the stream and changed only by the scripts that add and
acknowledge, so it is exact and bounds the buffer. Reads are measured in readings, not entries:
a worker never holds more than its budget, however large the requests were.
It lives on one Redis (with replicas), not a Redis Cluster (storage/redis_client.refuse_cluster).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from buffer import scripts
from buffer.entries import ENTRY_FORMAT, Entry, entry_of, reply_entries, text_of
from readings.records import Record, encode
from settings import Settings
from storage.redis_client import key

GROUP = "writers"
# The most readings one entry holds: a device's flushed buffer of 10,000 readings is 20 entries,
# so a worker's batch can stop close to its budget instead of one whole request past it.
ENTRY_READINGS = 500
# The most entries one read or claim looks at.
ENTRIES_PER_READ = 200


class BufferFull(Exception):
    """The stream holds its bound of unacknowledged readings."""


class NotReplicated(Exception):
    """The entries are on the primary, but fewer replicas than asked confirmed them in time."""

    def __init__(self, confirmed: int, wanted: int) -> None:
        super().__init__(f"{confirmed} of {wanted} replicas confirmed the write")
        self.confirmed, self.wanted = confirmed, wanted


@dataclass
class AckResult:
    acked: int = 0
    freed: int = 0


@dataclass
class StreamStats:
    length: int
    backlog: int
    pending: int
    consumers: list[dict[str, Any]] = field(default_factory=list)


class IngestStream:
    def __init__(self, client: redis.Redis, prefix: str = "ev") -> None:
        self.redis = client
        self.key = key(prefix, "ingest")
        self.backlog_key = key(prefix, "ingest", "backlog")
        self._add = client.register_script(scripts.ADD)
        self._read_new = client.register_script(scripts.READ_NEW)
        self._take_pending = client.register_script(scripts.TAKE_PENDING)
        self._ack = client.register_script(scripts.ACK)
        self._prune = client.register_script(scripts.PRUNE)
        self._rescue = client.register_script(scripts.RESCUE_ORPHANS)

    # -- producing -------------------------------------------------------------------------

    def add(self, records: list[Record], bound: int, replicas: int = 0, wait_ms: int = 0) -> str:
        """Queue the readings (in entries of ENTRY_READINGS at most); the first entry's id.

        With `replicas`, only once that many replicas hold them (WAIT, on the connection that
        wrote them), else NotReplicated: the caller must not promise them, though the primary
        keeps them; a resend is stored once all the same (history is keyed by reading).
        """
        args: list[Any] = [bound, ENTRY_FORMAT]
        for start in range(0, len(records), ENTRY_READINGS):
            chunk = records[start : start + ENTRY_READINGS]
            args += [len(chunk), encode(chunk)]
        keys = [self.key, self.backlog_key]
        if replicas:
            pipe = self.redis.pipeline(transaction=False)
            self._add(keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", replicas, wait_ms)
            entry_id, confirmed = pipe.execute()
        else:
            entry_id, confirmed = self._add(keys=keys, args=args), 0
        if entry_id is None:
            raise BufferFull
        if confirmed < replicas:
            raise NotReplicated(int(confirmed), replicas)
        return text_of(entry_id)

    # -- consuming -------------------------------------------------------------------------

    def ensure_group(self) -> None:
        # From the stream's start, not '$': entries added before any worker ever ran are kept.
        try:
            self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def join(self, consumer: str) -> None:
        """Be listed in the group from the start: a blocking read on an empty stream does not
        create its consumer, so operators (and pruning) would not see a live one."""
        self.ensure_group()
        self.redis.xgroup_createconsumer(self.key, GROUP, consumer)

    def read_new(self, consumer: str, budget: int) -> list[Entry]:
        """New entries holding at most `budget` readings (or one entry, if it alone is more)."""
        reply: Any = self._nogroup_safe(
            self._read_new, [self.key], [GROUP, consumer, budget, ENTRIES_PER_READ]
        )
        return reply_entries(reply)

    def wait_new(self, consumer: str, block_ms: int) -> list[Entry]:
        """Block up to block_ms for one new entry (scripts cannot block)."""
        try:
            reply: Any = self.redis.xreadgroup(
                GROUP, consumer, {self.key: ">"}, count=1, block=block_ms
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()
            return []
        return reply_entries(reply)

    def take_pending(
        self, consumer: str, budget: int, min_idle_ms: int = 0, owner: str | None = None
    ) -> list[Entry]:
        """Pending entries idle for min_idle_ms (only `owner`'s, if given), now this consumer's,
        at most `budget` readings of them. With owner=consumer: what it held before a restart."""
        reply: Any = self._nogroup_safe(
            self._take_pending,
            [self.key],
            [GROUP, consumer, min_idle_ms, budget, ENTRIES_PER_READ, owner or ""],
        )
        return [entry_of(i, f, int(d)) for i, d, f in reply or []]

    def ack(self, entries: Iterable[Entry]) -> AckResult:
        ids = [entry.id for entry in entries]
        if not ids:
            return AckResult()
        acked, freed = self._ack(keys=[self.key, self.backlog_key], args=[GROUP, *ids])
        return AckResult(int(acked), int(freed))

    def prune_consumers(self, gone_ms: int) -> list[str]:
        """Remove consumers silent for gone_ms that hold nothing (their entries were claimed)."""
        return [text_of(name) for name in self._prune(keys=[self.key], args=[GROUP, gone_ms])]

    def rescue_orphans(self, per_call: int = 1000) -> int:
        """Put back at the stream's end delivered entries that no consumer holds any more."""
        rescued, start = 0, "0-0"
        while start:
            count, after = self._rescue(keys=[self.key], args=[GROUP, start, per_call])
            rescued, start = rescued + int(count), text_of(after)
        return rescued

    def _nogroup_safe(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group is gone (a Redis restart without persistence): recreate it.
            self.ensure_group()
            return []

    # -- observing -------------------------------------------------------------------------

    def backlog(self) -> int:
        return int(self.redis.get(self.backlog_key) or 0)

    def queued_readings(self) -> int:
        """Readings in the stream's entries, counted entry by entry: equals backlog() always."""
        entries: Any = self.redis.xrange(self.key)
        return sum(entry_of(i, f).size for i, f in entries)

    def evicting_policy(self) -> str | None:
        """Redis's maxmemory-policy when it may evict this stream or its counter, else None.

        Only allkeys-* policies with a memory limit can: our keys have no TTL, so volatile-*
        ones never pick them. None too when the server does not let us read its configuration.
        """
        try:
            config: Any = self.redis.config_get("maxmemory*")
        except redis.ResponseError:
            return None
        policy = text_of(config.get("maxmemory-policy", "noeviction"))
        limited = int(config.get("maxmemory", 0) or 0) > 0
        return policy if limited and policy.startswith("allkeys-") else None

    def stats(self) -> StreamStats:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(self.key)
        pipe.get(self.backlog_key)
        length, backlog = pipe.execute()
        pending, consumers = 0, []
        try:
            summary: Any = self.redis.xpending(self.key, GROUP)
            pending = int(summary["pending"])
            consumers = [
                {
                    "name": text_of(c["name"]),
                    "pending": int(c["pending"]),
                    "idle_ms": int(c["idle"]),
                }
                for c in self.redis.xinfo_consumers(self.key, GROUP)
            ]
        except redis.ResponseError:
            pass  # no group yet: nothing was ever read
        return StreamStats(
            length=int(length),
            backlog=int(backlog or 0),
            pending=pending,
            consumers=consumers,
        )


class EvictionGuard:
    """Whether Redis may evict what it holds, asked at most every `every` seconds per process:
    one CONFIG GET a minute or so instead of one per request."""

    def __init__(self, stream: IngestStream, every: float = 30.0) -> None:
        self.stream, self.every = stream, every
        self._policy: str | None = None
        self._next = 0.0

    def policy(self) -> str | None:
        now = time.monotonic()
        if now >= self._next:
            # Unreachable: keep the last answer, the add that follows answers 503 on its own.
            with contextlib.suppress(redis.RedisError):
                self._policy = self.stream.evicting_policy()
            self._next = now + self.every
        return self._policy


def queue(stream: IngestStream, settings: Settings, records: list[Record]) -> None:
    """Durably queue readings as a 202 (or a charger's confirmation) promises them: on the stream
    within STREAM_MAX_READINGS, copied to REDIS_REPLICA_ACKS replicas. Raises BufferFull,
    NotReplicated or a RedisError; what both doors, ingest and chargers, call."""
    if records:
        stream.add(
            records,
            settings.stream_max_readings,
            settings.redis_replica_acks,
            replica_wait_ms(settings),
        )


def replica_wait_ms(settings: Settings) -> int:
    """How long a write waits for REDIS_REPLICA_ACKS replicas: half the Redis timeout, so the
    WAIT answers before the connection gives up on it."""
    return max(1, int(settings.redis_timeout_seconds * 500))

"""The ingest buffer: a Redis Stream read by one consumer group.

An entry is one request's valid readings. It stays in the group's pending list until a worker
acknowledges it after its batch committed, so a crash at any point leaves it to be read again.
A counter of the readings not yet acknowledged is kept beside the stream and changed only in the
same atomic scripts that add and acknowledge entries, so it is exact and bounds the buffer.
Keys share one hash tag, so the scripts also run on Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from models.readings import Record, decode, encode

GROUP = "writers"

# Refuses to add once the buffer already holds `bound` readings: a request may overshoot the
# bound by at most its own size, and a full buffer turns into 503s instead of lost memory.
_ADD = """
local backlog = tonumber(redis.call('GET', KEYS[2]) or '0')
if backlog >= tonumber(ARGV[1]) then return false end
local id = redis.call('XADD', KEYS[1], '*', 'n', ARGV[2], 'r', ARGV[3])
redis.call('INCRBY', KEYS[2], ARGV[2])
return id
"""

# ARGV: group, then per entry: id, readings, number of dead letters, the dead letters.
# Dead letters are written only with the acknowledgement that first succeeds, so an entry that
# two consumers both processed (after a claim) is dead-lettered and counted once.
_ACK = """
local i, acked, freed, dead = 2, 0, 0, 0
while i <= #ARGV do
  local id, readings, ndead = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local first = i + 3
  i = first + ndead
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    acked = acked + 1
    freed = freed + readings
    for j = first, i - 1 do
      redis.call('XADD', KEYS[3], '*', 'entry', id, 'letter', ARGV[j])
      dead = dead + 1
    end
  end
  redis.call('XDEL', KEYS[1], id)
end
if freed > 0 then redis.call('DECRBY', KEYS[2], freed) end
if dead > 0 then redis.call('INCRBY', KEYS[4], dead) end
return {acked, freed, dead}
"""


class BufferFull(Exception):
    """The stream holds its bound of unacknowledged readings."""


@dataclass
class Entry:
    id: str
    records: list[Record]
    # Readings the entry counted in the backlog when it was added.
    size: int
    # Raw payload, kept when it could not be decoded, so it can be dead-lettered as it was.
    undecodable: bytes | None = None

    @property
    def added_ms(self) -> int:
        return int(self.id.split("-", 1)[0])


@dataclass
class DeadLetter:
    record: Any
    error: str


@dataclass
class AckResult:
    acked: int = 0
    freed: int = 0
    dead: int = 0


@dataclass
class StreamStats:
    length: int
    backlog: int
    pending: int
    dead_letters: int
    oldest_pending_ms: int | None = None
    consumers: list[dict[str, Any]] = field(default_factory=list)


class IngestStream:
    def __init__(self, client: redis.Redis, prefix: str = "ev") -> None:
        self.redis = client
        self.key = f"{{{prefix}}}:ingest"
        self.backlog_key = f"{{{prefix}}}:ingest:backlog"
        self.dead_key = f"{{{prefix}}}:dead"
        self.dead_total_key = f"{{{prefix}}}:dead:total"
        self._add = client.register_script(_ADD)
        self._ack = client.register_script(_ACK)

    # -- producing -------------------------------------------------------------------------

    def add(self, records: list[Record], bound: int) -> str:
        entry_id = self._add(
            keys=[self.key, self.backlog_key], args=[bound, len(records), encode(records)]
        )
        if entry_id is None:
            raise BufferFull
        return _text(entry_id)

    # -- consuming -------------------------------------------------------------------------

    def ensure_group(self) -> None:
        # From the stream's start, not '$': entries added before any worker ever ran are kept.
        try:
            self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(
        self, consumer: str, count: int, block_ms: int | None, after: str = ">"
    ) -> list[Entry]:
        """New entries (after='>'), or this consumer's own pending ones after an id."""
        try:
            reply: Any = self.redis.xreadgroup(
                GROUP, consumer, {self.key: after}, count=count, block=block_ms
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group is gone (a Redis restart without persistence): recreate it.
            self.ensure_group()
            return []
        if not reply:
            return []
        return [_entry(entry_id, fields) for entry_id, fields in reply[0][1]]

    def claim_idle(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries another consumer left pending for longer than min_idle_ms."""
        entries: list[Entry] = []
        start = "0-0"
        while len(entries) < count:
            try:
                reply: Any = self.redis.xautoclaim(
                    self.key, GROUP, consumer, min_idle_ms, start_id=start, count=count
                )
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_group()
                return entries
            start = _text(reply[0])
            entries.extend(_entry(i, f) for i, f in reply[1] if f is not None)
            # Ids the stream no longer holds are only acknowledged, never processed.
            deleted = [_text(i) for i in (reply[2] if len(reply) > 2 else [])]
            deleted += [_text(i) for i, f in reply[1] if f is None]
            if deleted:
                self.ack([Entry(i, [], 0) for i in deleted])
            if start == "0-0":
                break
        return entries

    def ack(
        self, entries: Iterable[Entry], dead: dict[str, list[DeadLetter]] | None = None
    ) -> AckResult:
        args: list[Any] = [GROUP]
        for entry in entries:
            letters = (dead or {}).get(entry.id, [])
            args += [entry.id, entry.size, len(letters)]
            args += [
                orjson.dumps({"record": letter.record, "error": letter.error}) for letter in letters
            ]
        if len(args) == 1:
            return AckResult()
        acked, freed, dead_count = self._ack(
            keys=[self.key, self.backlog_key, self.dead_key, self.dead_total_key], args=args
        )
        return AckResult(int(acked), int(freed), int(dead_count))

    def prune_consumers(self, gone_ms: int) -> list[str]:
        """Remove consumers silent for gone_ms that hold nothing (their entries were claimed)."""
        removed: list[str] = []
        try:
            consumers: Any = self.redis.xinfo_consumers(self.key, GROUP)
        except redis.ResponseError:
            return removed
        for info in consumers:
            name = _text(info["name"])
            if int(info["pending"]) == 0 and int(info["idle"]) >= gone_ms:
                self.redis.xgroup_delconsumer(self.key, GROUP, name)
                removed.append(name)
        return removed

    # -- observing -------------------------------------------------------------------------

    def backlog(self) -> int:
        return int(self.redis.get(self.backlog_key) or 0)

    def stats(self) -> StreamStats:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(self.key)
        pipe.get(self.backlog_key)
        pipe.get(self.dead_total_key)
        length, backlog, dead = pipe.execute()
        pending, oldest, consumers = 0, None, []
        try:
            summary: Any = self.redis.xpending(self.key, GROUP)
            pending = int(summary["pending"])
            if pending:
                oldest = int(_text(summary["min"]).split("-", 1)[0])
            consumers = [
                {"name": _text(c["name"]), "pending": int(c["pending"]), "idle_ms": int(c["idle"])}
                for c in self.redis.xinfo_consumers(self.key, GROUP)
            ]
        except redis.ResponseError:
            pass  # no group yet: nothing was ever read
        return StreamStats(
            length=int(length),
            backlog=int(backlog or 0),
            pending=pending,
            dead_letters=int(dead or 0),
            oldest_pending_ms=oldest,
            consumers=consumers,
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes] | None) -> Entry:
    entry_id = _text(entry_id)
    if not fields:
        return Entry(entry_id, [], 0)
    size = int(fields.get(b"n", 0))
    payload = fields.get(b"r", b"")
    try:
        return Entry(entry_id, decode(payload), size)
    except ValueError:
        return Entry(entry_id, [], size, undecodable=payload)


def connect(url: str, timeout_seconds: float, block_ms: int = 0) -> redis.Redis:
    """A client whose every call is bounded: a dead Redis is an error in seconds, never a hang."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds + block_ms / 1000,
        health_check_interval=30,
        protocol=2,
    )

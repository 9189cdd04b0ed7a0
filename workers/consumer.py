"""One consumer of the ingest stream: read a micro-batch, commit it, then acknowledge it.

Each Celery pool process runs one of these (see workers/drain.py), so throughput grows with
--concurrency and with hosts. Nothing is acknowledged before its batch committed; a failure
leaves the batch pending, to be retried here or, if this process dies, re-read by its successor
under the same name or claimed by another consumer once idle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeVar

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from models.history import WriteResult
from models.stream import AckResult, DeadLetter, Entry, IngestStream
from settings import Settings
from workers.store import store_entries

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long one read blocks for the first entry of a batch; bounds how late a stop is noticed.
POLL_MS = 1000
ENTRIES_PER_READ = 64
TRANSIENT = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)


@dataclass
class BatchReport:
    entries: int
    written: WriteResult
    acked: AckResult
    seconds: float
    # Milliseconds from each entry's XADD to its acknowledgement.
    lags_ms: list[int]


class Consumer:
    def __init__(
        self,
        name: str,
        stream: IngestStream,
        engine: Engine,
        settings: Settings,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self.name = name
        self.stream = stream
        self.engine = engine
        self.settings = settings
        self.on_batch = on_batch

    def run(self, stop: threading.Event) -> None:
        log.info("consumer=%s event=start", self.name)
        self._until_done(stop, self.stream.ensure_group)
        self.drain_own_pending(stop)
        claim_every = max(1.0, self.settings.claim_idle_seconds / 3)
        next_claim = time.monotonic() + claim_every
        while not stop.is_set():
            entries = self._until_done(stop, self.collect)
            if entries:
                self.process(entries, stop)
            if time.monotonic() >= next_claim:
                next_claim = time.monotonic() + claim_every
                claimed = self._until_done(stop, self.claim)
                if claimed:
                    log.info("consumer=%s event=claimed entries=%d", self.name, len(claimed))
                    self.process(claimed, stop)
        log.info("consumer=%s event=stop", self.name)

    def drain_own_pending(self, stop: threading.Event) -> None:
        """A consumer restarted under its old name first finishes what it had been given."""
        after = "0"
        while not stop.is_set():
            entries = self._until_done(stop, partial(self._read_pending, after))
            if not entries:
                return
            after = entries[-1].id
            self.process(entries, stop)

    def _read_pending(self, after: str) -> list[Entry]:
        return self.stream.read(self.name, ENTRIES_PER_READ, None, after=after)

    def collect(self) -> list[Entry]:
        """A batch closes at BATCH_MAX_READINGS or BATCH_WAIT_MS after its first entry."""
        limit = self.settings.batch_max_readings
        entries = self.stream.read(self.name, min(ENTRIES_PER_READ, limit), POLL_MS)
        if not entries:
            return []
        readings = sum(len(e.records) for e in entries)
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while readings < limit:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            # Every entry holds at least one reading, so this never reads past the limit by
            # more than the last entries' extra readings.
            count = min(ENTRIES_PER_READ, limit - readings)
            more = self.stream.read(self.name, count, remaining_ms)
            if not more:
                break
            entries += more
            readings += sum(len(e.records) for e in more)
        return entries

    def claim(self) -> list[Entry]:
        return self.stream.claim_idle(
            self.name, self.settings.claim_idle_seconds * 1000, ENTRIES_PER_READ
        )

    def process(self, entries: list[Entry], stop: threading.Event) -> bool:
        """Commit the batch, then acknowledge it. False if stopped before both were done."""
        started = time.monotonic()
        written: WriteResult | None = None
        dead: dict[str, list[DeadLetter]] = {}

        def commit() -> None:
            nonlocal written, dead
            with self.engine.begin() as conn:
                written, dead = store_entries(conn, entries)

        if self._until_done(stop, commit, what="commit") is False:
            return False
        acked = self._until_done(stop, lambda: self.stream.ack(entries, dead), what="ack")
        if acked is False:
            return False
        assert written is not None
        now_ms = int(time.time() * 1000)
        report = BatchReport(
            entries=len(entries),
            written=written,
            acked=acked,
            seconds=time.monotonic() - started,
            lags_ms=[now_ms - e.added_ms for e in entries],
        )
        if acked.dead:
            log.warning("consumer=%s event=dead_letters count=%d", self.name, acked.dead)
        if self.on_batch:
            self.on_batch(report)
        return True

    def _until_done(
        self, stop: threading.Event, step: Callable[[], T], what: str = "read"
    ) -> T | Literal[False]:
        """Run step until it succeeds, backing off on failures; False once stop is set.

        Transient failures (a restarting PostgreSQL or Redis) are expected and retried quietly;
        anything else is a bug, logged with its traceback, and retried too: the work stays in
        the stream rather than being dropped or acknowledged.
        """
        delay = 0.1
        while not stop.is_set():
            try:
                return step()
            except TRANSIENT as exc:
                log.warning(
                    "consumer=%s event=%s_retry error=%r delay=%.1f",
                    self.name,
                    what,
                    _short(exc),
                    delay,
                )
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    log.exception("consumer=%s event=%s_failed", self.name, what)
            except Exception:
                log.exception("consumer=%s event=%s_failed", self.name, what)
            if stop.wait(delay):
                break
            delay = min(delay * 2, self.settings.db_retry_max_seconds)
        return False


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]

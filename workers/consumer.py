"""One consumer of the ingest stream: read a micro-batch, commit it, then acknowledge it.

Each member of the Celery pool (a process, or a thread with --pool threads) runs one of these
(see workers/drain.py), so throughput grows with --concurrency and with hosts. Nothing is
acknowledged before its batch committed; a failure leaves the batch pending, to be retried here
or, if this process dies, re-read by its successor under the same name or claimed by another
consumer once idle. A batch never holds more than BATCH_MAX_READINGS readings (or one entry,
when that is less), whatever the requests' sizes, so a writer's memory is bounded even when it
returns to a buffer full of flushed device backlogs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import psycopg2
import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from buffer.stream import ENTRIES_PER_READ, ENTRY_READINGS, Entry, IngestStream
from readings.registers import RegisterRule
from settings import Settings
from workers.store import PartitionMoved, Stored, dead_letter_entries, store_entries

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long one read blocks for the first entry of a batch; bounds how late a stop is noticed.
POLL_MS = 1000
# How long a batch still open pauses between reads when no entry is waiting.
GATHER_SECONDS = 0.02
# PostgreSQL or Redis away, a lost connection (also from the COPY path, which raises psycopg2's
# own classes), a deadlock, a partition attached under a row: waited out, never dead-lettered.
TRANSIENT = (
    OperationalError,
    InterfaceError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
    PartitionMoved,
)
# First wait after an unexpected failure: MAX_DELIVERIES attempts then span tens of seconds.
FAILURE_DELAY = 1.0


@dataclass
class BatchReport:
    entries: int
    stored: Stored
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
        self.budget = settings.batch_max_readings
        self.rule = RegisterRule.of(settings)
        # Set when a Redis call failed for want of the server: once one answers again, it may
        # be a new primary after a failover, where this consumer's pending entries (replicated
        # with the stream) are owed to no one else until CLAIM_IDLE_SECONDS have passed.
        self.redis_lost = False

    def run(self, stop: threading.Event) -> None:
        log.info("consumer=%s event=start", self.name)
        self._until_done(stop, lambda: self.stream.join(self.name))
        self.drain_own_pending(stop)
        claim_every = max(1.0, self.settings.claim_idle_seconds / 3)
        next_claim = time.monotonic() + claim_every
        while not stop.is_set():
            if self.redis_lost:
                self.redis_lost = False
                log.info("consumer=%s event=redis_back rereading=own_pending", self.name)
                self.drain_own_pending(stop)
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
        while not stop.is_set():
            entries = self._until_done(stop, self._own_pending)
            if not entries or not self.process(entries, stop):
                return

    def _own_pending(self) -> list[Entry]:
        return self.stream.take_pending(self.name, self.budget, owner=self.name)

    def collect(self) -> list[Entry]:
        """A batch closes at BATCH_MAX_READINGS or BATCH_WAIT_MS after its first entry."""
        entries = self.stream.read_new(self.name, self.budget)
        if not entries:
            entries = self.stream.wait_new(self.name, POLL_MS)
            if not entries:
                return []
        readings = _readings(entries)
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        last = entries
        while readings < self.budget:
            if len(last) < ENTRIES_PER_READ:
                # The stream was empty behind the last read. Devices sending one reading per
                # request make one-reading entries: waking for each would cost Redis two calls
                # per reading, so they gather for a moment and one read takes them all.
                remaining = deadline - time.monotonic()
                # A read may take one entry past the budget: wait only while a whole one fits.
                if remaining <= 0 or self.budget - readings < ENTRY_READINGS:
                    break
                time.sleep(min(remaining, GATHER_SECONDS))
            last = self.stream.read_new(self.name, self.budget - readings)
            entries += last
            readings += _readings(last)
        return entries

    def claim(self) -> list[Entry]:
        return self.stream.take_pending(
            self.name, self.budget, min_idle_ms=self.settings.claim_idle_seconds * 1000
        )

    def process(self, entries: list[Entry], stop: threading.Event) -> bool:
        """Commit the batch, then acknowledge it. False if stopped before both were done."""
        started = time.monotonic()
        stored = self._commit(entries, stop)
        if stored is None:
            return False
        acked = self._until_done(stop, lambda: self.stream.ack(entries), what="ack")
        if acked is False:
            return False
        now_ms = int(time.time() * 1000)
        report = BatchReport(
            entries=len(entries),
            stored=stored,
            seconds=time.monotonic() - started,
            lags_ms=[now_ms - e.added_ms for e in entries],
        )
        if stored.dead_lettered:
            log.warning("consumer=%s event=dead_letters count=%d", self.name, stored.dead_lettered)
        if self.on_batch:
            self.on_batch(report)
        return True

    def _commit(self, entries: list[Entry], stop: threading.Event) -> Stored | None:
        """Write the entries in one transaction; None if stopped first.

        Transient failures are waited out. Anything else is split off: a batch is written in
        halves until the entry at fault stands alone, so it never holds back the others; that
        entry is retried with back-off until it has had MAX_DELIVERIES attempts in all (counting
        earlier deliveries to crashed consumers), then its readings are dead-lettered with the
        error, to be replayed once the cause is fixed.
        """
        delay, attempts = 0.1, 0
        while not stop.is_set():
            try:
                with self.engine.begin() as conn:
                    return store_entries(conn, entries, self.rule)
            except Exception as exc:
                if _transient(exc):
                    log.warning(
                        "consumer=%s event=commit_retry error=%r delay=%.1f",
                        self.name,
                        _short(exc),
                        delay,
                    )
                elif len(entries) > 1:
                    return self._commit_halves(entries, stop)
                else:
                    attempts += 1
                    if entries[0].deliveries - 1 + attempts >= self.settings.max_deliveries:
                        return self._dead_letter(entries, exc, stop)
                    log.exception(
                        "consumer=%s event=commit_failed entry=%s attempt=%d",
                        self.name,
                        entries[0].id,
                        attempts,
                    )
                    delay = max(delay, FAILURE_DELAY)
            if stop.wait(delay):
                break
            delay = min(delay * 2, self.settings.db_retry_max_seconds)
        return None

    def _commit_halves(self, entries: list[Entry], stop: threading.Event) -> Stored | None:
        half = len(entries) // 2
        first = self._commit(entries[:half], stop)
        second = self._commit(entries[half:], stop) if first is not None else None
        if first is None or second is None:
            return None
        first.written.add(second.written)
        first.dead_lettered += second.dead_lettered
        return first

    def _dead_letter(
        self, entries: list[Entry], exc: Exception, stop: threading.Event
    ) -> Stored | None:
        error = f"not written after {self.settings.max_deliveries} attempts: {_short(exc)}"
        log.error(
            "consumer=%s event=entry_dead_lettered entry=%s error=%r",
            self.name,
            entries[0].id,
            error,
        )

        def write() -> Stored:
            with self.engine.begin() as conn:
                return dead_letter_entries(conn, entries, error)

        result = self._until_done(stop, write, what="dead_letter")
        return None if result is False else result

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
            except Exception as exc:
                if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
                    self.redis_lost = True
                if _transient(exc):
                    log.warning(
                        "consumer=%s event=%s_retry error=%r delay=%.1f",
                        self.name,
                        what,
                        _short(exc),
                        delay,
                    )
                else:
                    log.exception("consumer=%s event=%s_failed", self.name, what)
            if stop.wait(delay):
                break
            delay = min(delay * 2, self.settings.db_retry_max_seconds)
        return False


def _transient(exc: Exception) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _readings(entries: list[Entry]) -> int:
    return sum(e.size for e in entries)


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]

"""Each vehicle's and each meter's 24 h answer, and each page of their listings, as this web
process last built it, kept until a refresh commits.

The 24 h tables change only when a refresh commits, and every refresh moves
efficiency_window.refreshed_at. A process asks for that stamp at most every READ_CACHE_SECONDS
and answers what it has answered since the stamp from memory: the body, its ETag and
Last-Modified built once, no database round trip. So a refresh shows within READ_CACHE_SECONDS
(0: the stamp is asked on every read, one single-row table).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from efficiency import fleet, meters, refresh
from storage import db
from web.contract import responses

# Past this many remembered devices the cache starts again: made-up IDs cannot grow a worker's
# memory without bound.
MOST_REMEMBERED = 200_000
# Listing pages are a few hundred devices each: fewer of them are kept.
MOST_PAGES = 1_000
# in_memory(): a stamp due within this long counts as due now.
_DUE_MARGIN_SECONDS = 0.25


@dataclass(frozen=True)
class Source:
    """A kind of 24 h answer: how its row is read and how the row becomes its body."""

    name: str
    read: Callable[[Connection, str], Any]
    body: Callable[[Any], dict[str, Any]]


VEHICLES = Source("vehicle", refresh.read, responses.performance)
METERS = Source("meter", meters.read, responses.meter_performance)


@dataclass(frozen=True)
class Answer:
    """A device's answer as of one refresh; payload None: no data in the window (a 404)."""

    stamp: datetime | None
    payload: bytes | None = None
    etag: str = ""


class EfficiencyCache:
    def __init__(
        self, engine: Engine, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine, self.ttl, self.clock = engine, ttl_seconds, clock
        self._stamp: datetime | None = None
        self._asked_at = float("-inf")
        self._answers: dict[tuple[str, str], Answer] = {}
        self._pages: dict[str, Answer] = {}

    def answer(self, source: Source, device_id: str) -> Answer:
        """The device's answer as of the latest refresh this process knows of. PostgreSQL
        unreachable raises (a 503), as an uncached read would."""
        return self._remembered(
            self._answers,
            (source.name, device_id),
            lambda stamp: self._build(source, device_id, stamp),
            MOST_REMEMBERED,
        )

    def page(self, key: str, build: Callable[[], Answer]) -> Answer:
        """A listing's page (`key`: what it lists and the query) as of the latest refresh this
        process knows of: the first ask after a refresh builds it, the others read it."""
        return self._remembered(self._pages, key, lambda _stamp: build(), MOST_PAGES)

    def _remembered(
        self,
        store: dict[Any, Answer],
        key: Any,
        build: Callable[[datetime | None], Answer],
        most: int,
    ) -> Answer:
        stamp = self._current_stamp()
        known = store.get(key)
        # An answer built from another refresh than the one known now is built again: one read
        # that raced a refresh is never kept for a whole refresh period.
        if known is not None and known.stamp == stamp:
            return known
        answer = build(stamp)
        if len(store) >= most:
            store.clear()
        store[key] = answer
        return answer

    def in_memory(self, source: Source, device_id: str) -> bool:
        """Whether `answer` would give this device's answer without asking PostgreSQL (with
        time to spare before the stamp is due again)."""
        if self.clock() - self._asked_at >= self.ttl - _DUE_MARGIN_SECONDS:
            return False
        known = self._answers.get((source.name, device_id))
        return known is not None and known.stamp == self._stamp

    def _current_stamp(self) -> datetime | None:
        now = self.clock()
        if now - self._asked_at >= self.ttl:
            window = db.read(self.engine, fleet.window)
            stamp = window.refreshed_at if window is not None else None
            if stamp != self._stamp:
                self._stamp = stamp
                self._answers.clear()
                self._pages.clear()
            self._asked_at = now
        return self._stamp

    def _build(self, source: Source, device_id: str, stamp: datetime | None) -> Answer:
        row: Any = db.read(self.engine, lambda conn: source.read(conn, device_id))
        if row is None:
            # Not found as of `stamp` or later: kept under `stamp`, asked again once it moves.
            return Answer(stamp)
        payload, etag = responses.encode(source.body(row))
        return Answer(row["refreshed_at"], payload, etag)

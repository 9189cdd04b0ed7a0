"""Each vehicle's 24 h answer as this web process last built it, kept until a refresh commits.

The 24 h table changes only when a refresh commits, and every refresh moves
performance_window.refreshed_at. A process asks for that stamp at most every READ_CACHE_SECONDS
and answers a vehicle it has answered since the stamp from memory: the body, its ETag and
Last-Modified built once, no database round trip. So a refresh shows within READ_CACHE_SECONDS
(0: the stamp is asked on every read, one single-row table).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from models import db
from models.efficiency import fleet, performance
from web import responses

# Past this many remembered vehicles the cache starts again: made-up vehicle IDs cannot grow a
# worker's memory without bound.
MOST_REMEMBERED = 200_000
# in_memory(): a stamp due within this long counts as due now.
_DUE_MARGIN_SECONDS = 0.25


@dataclass(frozen=True)
class Answer:
    """A vehicle's answer as of one refresh; payload None: no data in the window (a 404)."""

    stamp: datetime | None
    payload: bytes | None = None
    etag: str = ""


class PerformanceCache:
    def __init__(
        self, engine: Engine, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine, self.ttl, self.clock = engine, ttl_seconds, clock
        self._stamp: datetime | None = None
        self._asked_at = float("-inf")
        self._answers: dict[str, Answer] = {}

    def answer(self, vehicle_id: str) -> Answer:
        """The vehicle's answer as of the latest refresh this process knows of. PostgreSQL
        unreachable raises (a 503), as an uncached read would."""
        stamp = self._current_stamp()
        known = self._answers.get(vehicle_id)
        # An answer built from another refresh than the one known now is built again: one read
        # that raced a refresh is never kept for a whole refresh period.
        if known is not None and known.stamp == stamp:
            return known
        answer = self._build(vehicle_id, stamp)
        if len(self._answers) >= MOST_REMEMBERED:
            self._answers = {}
        self._answers[vehicle_id] = answer
        return answer

    def in_memory(self, vehicle_id: str) -> bool:
        """Whether `answer` would give this vehicle's answer without asking PostgreSQL (with
        time to spare before the stamp is due again)."""
        if self.clock() - self._asked_at >= self.ttl - _DUE_MARGIN_SECONDS:
            return False
        known = self._answers.get(vehicle_id)
        return known is not None and known.stamp == self._stamp

    def _current_stamp(self) -> datetime | None:
        now = self.clock()
        if now - self._asked_at >= self.ttl:
            window = db.read(self.engine, fleet.window)
            stamp = window.refreshed_at if window is not None else None
            if stamp != self._stamp:
                self._stamp, self._answers = stamp, {}
            self._asked_at = now
        return self._stamp

    def _build(self, vehicle_id: str, stamp: datetime | None) -> Answer:
        row: Any = db.read(self.engine, lambda conn: performance.read(conn, vehicle_id))
        if row is None:
            # Not found as of `stamp` or later: kept under `stamp`, asked again once it moves.
            return Answer(stamp)
        payload, etag = responses.encode(responses.performance(row))
        return Answer(row["refreshed_at"], payload, etag)

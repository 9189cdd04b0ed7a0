"""Per-device tokens as the web tier sees them: looked up in PostgreSQL, remembered for a while.

Each process keeps what it found (unknown tokens too, so a device with a bad token does not cost
a query per request) for DEVICE_TOKEN_CACHE_SECONDS: a revoked token stops working within that.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine

from models import credentials, db
from models.credentials import Device

# Past this many remembered tokens the cache starts again: a flood of made-up tokens cannot grow
# a worker's memory without bound.
MOST_REMEMBERED = 100_000


class CredentialCache:
    def __init__(
        self, engine: Engine, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine, self.ttl, self.clock = engine, ttl_seconds, clock
        self._known: dict[str, tuple[Device | None, float]] = {}

    def device(self, token: str) -> Device | None:
        """The device this token is live for, or None. PostgreSQL unreachable raises (a 503)."""
        if not token.startswith(credentials.PREFIX):
            return None
        now = self.clock()
        known = self._known.get(token)
        if known is not None and known[1] > now:
            return known[0]
        found = db.read(self.engine, lambda conn: credentials.find(conn, token))
        if len(self._known) >= MOST_REMEMBERED:
            self._known.clear()
        self._known[token] = (found, now + self.ttl)
        return found

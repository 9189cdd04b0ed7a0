"""Per-device tokens as the web tier and the OCPP server see them: looked up in PostgreSQL's
primary, remembered for a while, and still known while PostgreSQL is away.

- Only a token of the shape `flask devices` issues is looked up; anything else is refused
  without a query and without a place in memory, however long it is.
- Each process remembers what it found (unknown tokens too, so a device with a bad token costs
  one query per DEVICE_TOKEN_CACHE_SECONDS, not one per request) for that long, keyed by the
  token's hash, the least recently used dropped first past MOST_REMEMBERED: a flood of made-up
  tokens neither grows a process nor pushes the fleet's own tokens out all at once.
- The primary is asked, never a replica: a revocation counts from the moment it commits.
- Every live token the primary vouches for is also kept in Redis (the last known credentials):
  when the primary cannot be reached, a token is judged by it, so ingest goes on through a
  database outage, in a process started during it too. A token not found there (never seen, or
  revoked: a revocation removes it) is answered 503 meanwhile, never let in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import orjson
import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from devices import credentials
from devices.credentials import Device
from storage import db
from storage.redis_client import key

log = logging.getLogger(__name__)

MOST_REMEMBERED = 100_000
# quick(): a token due for a lookup within this long is treated as due now, so a request judged
# to need no query does not find its entry expired a moment later.
_MARGIN_SECONDS = 1.0
_UNREACHABLE = (OperationalError, InterfaceError, PoolTimeout)


class CredentialsUnavailable(Exception):
    """Neither the primary nor the last known credentials can say: answered 503."""


class KnownCredentials:
    """The last answer the primary gave for each token hash, in one Redis hash."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis, self.key = client, key(prefix, "credentials")

    def get(self, digest: bytes) -> Device | None:
        raw = self.redis.hget(self.key, digest.hex())
        if raw is None:
            return None
        kind, device_id, meters = orjson.loads(raw)
        return Device(kind, device_id, frozenset(meters))

    def put(self, digest: bytes, device: Device | None) -> None:
        if device is None:
            self.redis.hdel(self.key, digest.hex())
        else:
            value = orjson.dumps([device.kind, device.id, sorted(device.meters)])
            self.redis.hset(self.key, digest.hex(), value)


class CredentialCache:
    def __init__(
        self,
        primary: Engine,
        known: KnownCredentials,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary, self.known, self.ttl, self.clock = primary, known, ttl_seconds, clock
        self._found: OrderedDict[bytes, tuple[Device | None, float]] = OrderedDict()
        # The app's threads share the cache; a lookup runs outside the lock.
        self._lock = threading.Lock()

    def must_look_up(self, token: str | None) -> bool:
        """Whether judging this token needs PostgreSQL (or Redis) now."""
        if not token or not credentials.well_formed(token):
            return False
        found = self._found.get(credentials.digest(token))
        return found is None or found[1] <= self.clock() + _MARGIN_SECONDS

    def device(self, token: str) -> Device | None:
        """The device this token is live for, or None; CredentialsUnavailable if no one knows."""
        if not credentials.well_formed(token):
            return None
        digest = credentials.digest(token)
        now = self.clock()
        with self._lock:
            remembered = self._found.get(digest)
            if remembered is not None and remembered[1] > now:
                self._found.move_to_end(digest)
                return remembered[0]
        try:
            found = db.read(self.primary, lambda conn: credentials.find(conn, token))
        except _UNREACHABLE as exc:
            found = self._last_known(digest, exc)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            found = self._last_known(digest, exc)
        else:
            if remembered is None or remembered[0] != found:
                self._keep(digest, found)
        with self._lock:
            self._found[digest] = (found, now + self.ttl)
            self._found.move_to_end(digest)
            while len(self._found) > MOST_REMEMBERED:
                self._found.popitem(last=False)
        return found

    def _last_known(self, digest: bytes, cause: Exception) -> Device:
        """What the primary last said of a live token. A token it never vouched for (or that
        was revoked since) cannot be judged now: a 503, which devices retry, not a 401."""
        try:
            device = self.known.get(digest)
        except redis.RedisError as exc:
            raise CredentialsUnavailable(str(exc)) from cause
        if device is None:
            raise CredentialsUnavailable("no live token with this hash is known") from cause
        return device

    def _keep(self, digest: bytes, device: Device | None) -> None:
        try:
            self.known.put(digest, device)
        except redis.RedisError as exc:  # the primary answered: this request is judged anyway
            log.warning("event=known_credentials_unwritten error=%r", str(exc))

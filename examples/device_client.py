"""A device's side of `POST /v1/ingest`: buffer readings, send them in batches, retry what the
service asks to be retried, and never resend what it refused (docs/DEVICES.md).

Only the standard library, so it runs on a gateway as it is:

    client = DeviceClient("https://ev.example.com", token="evd_...")
    client.add({"meterId": "M1", "kwhConsumedAc": 0.42, "voltage": 231.5,
                "timestamp": "2026-12-03T10:00:00Z"})
    client.flush()          # True once everything buffered is queued or refused

A resend is harmless: the service stores a reading once per device and timestamp, so whatever
was in flight when a connection broke is simply sent again.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ev.device")

# Statuses worth sending again, after Retry-After (or a backoff): the service was busy or away.
RETRY = {408, 429, 502, 503, 504}
# _send's answer when the service was not reached at all: back off.
UNREACHED = -1.0


class DeviceClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        batch: int = 500,
        most_buffered: int = 100_000,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("the service's URL starts with http:// or https://")
        self.url = base_url.rstrip("/") + "/v1/ingest"
        self.token, self.batch, self.timeout, self.sleep = token, batch, timeout, sleep
        # Oldest first; past most_buffered the oldest are dropped (a device's memory is finite;
        # one that can, keeps its buffer on disk instead).
        self.buffer: deque[dict[str, Any]] = deque(maxlen=most_buffered)
        self.refused: list[tuple[dict[str, Any], Any]] = []

    def add(self, reading: dict[str, Any]) -> None:
        self.buffer.append(reading)

    def flush(self, deadline_seconds: float = 60.0) -> bool:
        """Send the buffer, batch by batch, retrying until it is empty or the deadline passes."""
        give_up_at = time.monotonic() + deadline_seconds
        failures = 0
        while self.buffer:
            batch = [self.buffer[i] for i in range(min(self.batch, len(self.buffer)))]
            wait = self._send(batch)
            if wait is None:
                for _ in batch:
                    self.buffer.popleft()
                failures = 0
                continue
            if wait == UNREACHED:
                # Backing off, with jitter, so a fleet coming back does not come back at once.
                failures += 1
                wait = min(60.0, 2.0**failures) * (0.5 + random.random())  # noqa: S311
            if time.monotonic() + wait > give_up_at:
                return False
            if wait > 0:
                self.sleep(wait)
        return True

    def _send(self, batch: list[dict[str, Any]]) -> float | None:
        """None when the batch is done with (queued, or refused for good); else seconds to wait
        before sending it again."""
        body = gzip.compress(json.dumps(batch).encode())
        request = urllib.request.Request(  # noqa: S310 (the service's URL, http or https)
            self.url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310
                self._note_rejected(batch, json.load(reply))
                return None
        except urllib.error.HTTPError as exc:
            answer = _json(exc)
            if exc.code in RETRY:
                return _retry_after(exc, default=5.0)
            if exc.code == 413 and len(batch) > 1:
                # Too large for this service's limits: send it in halves instead.
                self.batch = max(1, len(batch) // 2)
                return 0.0
            # 400, 401, 403, 415, 422: sending it again would be refused again.
            self._note_rejected(batch, answer, whole=exc.code != 422)
            return None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            log.info("service not reached (%s); will retry", exc)
            return UNREACHED

    def _note_rejected(self, batch: list[Any], answer: Any, whole: bool = False) -> None:
        if whole or not isinstance(answer, dict):
            self.refused += [(reading, answer) for reading in batch]
            log.warning("batch refused: %s", answer)
            return
        for rejection in answer.get("rejected", []):
            self.refused.append((batch[rejection["index"]], rejection["errors"]))
        if answer.get("rejectedNotListed"):
            log.warning("%s more readings refused, not listed", answer["rejectedNotListed"])


def _json(exc: urllib.error.HTTPError) -> Any:
    try:
        return json.load(exc)
    except ValueError:
        return None


def _retry_after(exc: urllib.error.HTTPError, default: float) -> float:
    try:
        return max(0.0, float(exc.headers.get("Retry-After", default)))
    except ValueError:
        return default

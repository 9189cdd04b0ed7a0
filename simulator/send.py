"""Send a simulated fleet to a running service, the way devices would: POSTs of readings, a
503 or a dropped connection retried after a pause, paced to a rate if asked."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import urllib3

RETRY_PAUSE_MAX = 5.0


@dataclass
class Sent:
    readings: int = 0
    accepted: int = 0
    rejected: int = 0
    retries: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def send(
    bodies: Iterable[list[dict[str, Any]]],
    target: str,
    token: str,
    rate: float = 0,
    on_progress: Callable[[Sent, int], None] | None = None,
    max_attempts: int = 20,
) -> Sent:
    """POST each body (a list of wire readings); `rate`: readings a second at most (0: no pace)."""
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    sent = Sent()
    started = time.monotonic()
    for body in bodies:
        if rate:
            due = started + sent.readings / rate
            time.sleep(max(0.0, due - time.monotonic()))
        payload = orjson.dumps(body)
        for _attempt in range(max_attempts):
            status, reply = _post(http, target, payload, headers)
            sent.statuses[status] += 1
            if status == 202 or status == 422 or status in (400, 401, 403, 413, 415):
                break
            sent.retries += 1
            pause = float(reply.get("retry_after") or 1) if isinstance(reply, dict) else 1.0
            time.sleep(min(pause, RETRY_PAUSE_MAX))
        if status in (202, 422) and isinstance(reply, dict):
            sent.accepted += int(reply.get("accepted", 0))
            sent.rejected += len(reply.get("rejected", []))
        elif isinstance(reply, dict) and len(sent.errors) < 20:
            sent.errors.append(f"{status}: {reply.get('message', reply)}")
        sent.readings += len(body)
        if on_progress:
            on_progress(sent, len(body))
    return sent


def _post(
    http: urllib3.PoolManager, target: str, payload: bytes, headers: dict[str, str]
) -> tuple[int | str, Any]:
    try:
        reply = http.request(
            "POST", target.rstrip("/") + "/v1/ingest", body=payload, headers=headers
        )
    except urllib3.exceptions.HTTPError as exc:
        return type(exc).__name__, {"message": str(exc)}
    try:
        body = orjson.loads(reply.data)
    except orjson.JSONDecodeError:
        body = {"message": reply.data[:200].decode(errors="replace")}
    if isinstance(body, dict):
        body["retry_after"] = reply.headers.get("Retry-After")
    return reply.status, body

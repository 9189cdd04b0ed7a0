"""Small helpers the tests share."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, text

_STORED = "SELECT (SELECT count(*) FROM meter_readings) + (SELECT count(*) FROM vehicle_readings)"


def stored_readings(engine: Engine) -> int:
    """Readings in history, both kinds."""
    with engine.connect() as conn:
        return int(conn.execute(text(_STORED)).scalar_one())


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)

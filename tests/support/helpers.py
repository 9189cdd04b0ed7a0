"""Small helpers the tests share."""

from __future__ import annotations

import re
import socket

from sqlalchemy import Engine, text

from buffer import dead_letters as letters
from tools.stack import wait_until

__all__ = ["dead_letters", "listening", "refresh_spans", "stored_readings", "wait_until"]

_STORED = "SELECT (SELECT count(*) FROM meter_readings) + (SELECT count(*) FROM vehicle_readings)"


def stored_readings(engine: Engine) -> int:
    """Readings in history, both kinds."""
    with engine.connect() as conn:
        return int(conn.execute(text(_STORED)).scalar_one())


def dead_letters(engine: Engine) -> list[letters.Letter]:
    """Every dead letter, oldest first."""
    with engine.connect() as conn:
        return letters.list_letters(conn, 1_000_000)


_REFRESH = re.compile(r"event=refresh .*started=([\d.]+) ended=([\d.]+)")


def refresh_spans(worker_log: str) -> list[tuple[float, float]]:
    """(started, ended), epoch seconds, of each refresh a worker's log records."""
    return [(float(a), float(b)) for a, b in _REFRESH.findall(worker_log)]


def listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0

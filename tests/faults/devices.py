"""Simulated devices that keep a ledger: every reading sent, and which ones got a 202.

Like real devices, they send each reading until it is accepted: a 503, a timeout or a refused
connection means "send it again later". So a reading may reach the service more than once, and
the promise under test is that each one that got a 202 is stored exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import urllib3
from sqlalchemy import Engine, text

from tests.support.constants import DEVICE_TOKEN

Key = tuple[str, datetime]


def _key(reading: dict[str, Any]) -> Key:
    device = reading.get("vehicleId") or reading["meterId"]
    return device, datetime.fromisoformat(reading["timestamp"])


@dataclass
class Ledger:
    sent: dict[Key, dict[str, Any]] = field(default_factory=dict)
    acked: set[Key] = field(default_factory=set)
    statuses: Counter[int | str] = field(default_factory=Counter)


class Devices(threading.Thread):
    """`meters` meters and as many vehicles, posting arrays of `batch` new readings, `rate`
    requests a second, until stopped. Device ids start with `prefix`."""

    def __init__(
        self, url: str, prefix: str, *, meters: int = 40, batch: int = 20, rate: float = 40
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.prefix, self.meters, self.batch, self.rate = url, prefix, meters, batch, rate
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=10))
        self._sequence = 0
        self._start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self._lock = threading.Lock()

    def _readings(self) -> list[dict[str, Any]]:
        out = []
        for _ in range(self.batch):
            n, self._sequence = self._sequence, self._sequence + 1
            device, tick = n % (2 * self.meters), n // (2 * self.meters)
            moment = (self._start + timedelta(seconds=tick)).isoformat()
            if device < self.meters:
                reading = {
                    "meterId": f"{self.prefix}M{device}",
                    "kwhConsumedAc": 0.5 + device / 1000,
                    "voltage": 230.0,
                    "timestamp": moment,
                }
            else:
                reading = {
                    "vehicleId": f"{self.prefix}V{device}",
                    "meterId": f"{self.prefix}M{device - self.meters}",
                    "kwhDeliveredDc": 0.45,
                    "soc": 50.0,
                    "batteryTemp": 30.0,
                    "timestamp": moment,
                }
            out.append(reading)
        return out

    def post(self, readings: list[dict[str, Any]]) -> int | str:
        try:
            reply = self.http.request(
                "POST",
                self.url + "/v1/ingest",
                body=orjson.dumps(readings),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {DEVICE_TOKEN}",
                },
            )
        except urllib3.exceptions.HTTPError as exc:
            return type(exc).__name__
        if reply.status == 202:
            assert orjson.loads(reply.data) == {
                "accepted": len(readings),
                "rejected": [],
                "rejectedCount": 0,
            }
        elif reply.status == 503:
            assert reply.headers.get("Retry-After"), "a 503 must say when to retry"
        return reply.status

    def run(self) -> None:
        interval = 1 / self.rate
        unsent: list[dict[str, Any]] = []
        while not self.stopping.is_set():
            started = time.monotonic()
            readings = unsent or self._readings()
            with self._lock:
                for reading in readings:
                    self.ledger.sent[_key(reading)] = reading
            status = self.post(readings)
            with self._lock:
                self.ledger.statuses[status] += 1
                if status == 202:
                    self.ledger.acked.update(_key(r) for r in readings)
            unsent = [] if status == 202 else readings
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def stop(self) -> Ledger:
        self.stopping.set()
        self.join(30)
        return self.ledger

    def acked_count(self) -> int:
        with self._lock:
            return len(self.ledger.acked)


def stored_keys(engine: Engine, prefix: str) -> Counter[Key]:
    """How many times each of these devices' readings is in history."""
    query = text(
        "SELECT meter_id, recorded_at FROM meter_readings WHERE meter_id LIKE :p "
        "UNION ALL SELECT vehicle_id, recorded_at FROM vehicle_readings WHERE vehicle_id LIKE :p"
    )
    with engine.connect() as conn:
        return Counter((d, t) for d, t in conn.execute(query, {"p": prefix + "%"}))


def check_ledger(engine: Engine, ledger: Ledger, prefix: str) -> dict[str, int]:
    """Every acknowledged reading stored exactly once, nothing stored that was never sent."""
    stored = stored_keys(engine, prefix)
    missing = ledger.acked - stored.keys()
    assert not missing, f"{len(missing)} acknowledged readings not stored, e.g. {min(missing)}"
    twice = [key for key, count in stored.items() if count > 1]
    assert not twice, f"{len(twice)} readings stored more than once, e.g. {twice[0]}"
    invented = stored.keys() - ledger.sent.keys()
    assert not invented, f"{len(invented)} stored readings were never sent"
    return {"sent": len(ledger.sent), "acknowledged": len(ledger.acked), "stored": len(stored)}


def flush_backlogs(
    url: str, prefix: str, *, devices: int, days: float, batch: int = 10_000
) -> Ledger:
    """Devices back after an outage: each sends its buffer of `days` of one-a-minute readings,
    the newest ending now, in arrays of `batch`, resending any array not answered 202."""
    ledger = Ledger()
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=60))
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    minutes = int(days * 24 * 60)
    meters = devices // 2
    for device in range(devices):
        readings: list[dict[str, Any]] = []
        for minute in range(minutes):
            moment = (end - timedelta(minutes=minute, seconds=device % 50)).isoformat()
            if device < meters:
                reading = {
                    "meterId": f"{prefix}M{device}",
                    "kwhConsumedAc": 0.5,
                    "voltage": 230.0,
                    "timestamp": moment,
                }
            else:
                reading = {
                    "vehicleId": f"{prefix}V{device}",
                    "meterId": f"{prefix}M{device - meters}",
                    "kwhDeliveredDc": 0.45,
                    "soc": 50.0,
                    "batteryTemp": 30.0,
                    "timestamp": moment,
                }
            ledger.sent[_key(reading)] = reading
            readings.append(reading)
        for start in range(0, len(readings), batch):
            chunk = readings[start : start + batch]
            while True:
                try:
                    reply = http.request(
                        "POST",
                        url + "/v1/ingest",
                        body=orjson.dumps(chunk),
                        headers={
                            "Content-Type": "application/json",
                            "Authorization": f"Bearer {DEVICE_TOKEN}",
                        },
                    )
                    status: int | str = reply.status
                except urllib3.exceptions.HTTPError as exc:
                    status = type(exc).__name__
                ledger.statuses[status] += 1
                if status == 202:
                    ledger.acked.update(_key(r) for r in chunk)
                    break
                time.sleep(0.5)
    return ledger

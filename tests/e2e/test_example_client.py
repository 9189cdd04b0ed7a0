"""The example device client (examples/device_client.py) against the real service: it buffers
while the service is away and delivers every reading once when it is back, splits a batch the
service finds too large, waits as long as a 429 says, and never resends what was refused."""

from __future__ import annotations

import time

import pytest

from examples.device_client import DeviceClient
from tests.support.constants import DEVICE_TOKEN
from tests.support.factories import at, meter
from tests.support.helpers import stored_readings, wait_until


def readings(n: int, prefix: str = "M") -> list[dict]:
    return [meter(f"{prefix}{i % 50}", at(i // 50, i % 50)) for i in range(n)]


def test_it_buffers_while_the_service_is_away_and_delivers_each_reading_once(service, clean_db):
    service.env["MAX_READINGS_PER_REQUEST"] = "200"
    service.start("worker")
    client = DeviceClient(service.url, DEVICE_TOKEN, batch=500)
    good = readings(1200)
    bad = [meter("M-bad", at(0), kwh=-1), meter("M-bad2", at(0), voltage=0)]
    for reading in good[:600] + bad + good[600:]:
        client.add(reading)

    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # the service comes back after two failed tries
            service.start("web")

    client.sleep = sleep
    assert client.flush(deadline_seconds=120)
    assert len(waits) == 2, "backed off twice, then delivered"
    assert client.batch <= 200, "a batch over the service's limit was split"
    assert sorted(r["meterId"] for r, _ in client.refused) == ["M-bad", "M-bad2"]
    assert "kwhConsumedAc" in client.refused[0][1]
    wait_until(lambda: stored_readings(clean_db) == 1200, what="every good reading stored")

    # Sent again (as after a lost answer), nothing is stored twice.
    for reading in good[:300]:
        client.add(reading)
    assert client.flush()
    time.sleep(2)
    assert stored_readings(clean_db) == 1200


class Slept(Exception):
    pass


def test_it_waits_as_long_as_a_429_says(service, clean_db):
    service.env["GATEWAY_RATE_PER_MINUTE"] = "1"
    service.start("web")
    client = DeviceClient(service.url, DEVICE_TOKEN, batch=10)
    for reading in readings(20):
        client.add(reading)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise Slept

    client.sleep = sleep
    with pytest.raises(Slept):
        client.flush(deadline_seconds=120)
    assert len(client.buffer) == 10, "the first batch went, the second is kept"
    assert 1 <= waits[0] <= 60, "as long as Retry-After said: until the minute's window ends"
    assert not client.flush(deadline_seconds=0.5), "a deadline shorter than the wait gives up"
    assert len(client.buffer) == 10

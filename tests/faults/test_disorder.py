"""Fault 4: every reading sent three times, shuffled, across batches of random sizes."""

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from efficiency.reference import efficiency
from readings.validation import ReadingValidator
from settings import Settings
from tests.support.factories import meter, vehicle
from tests.support.helpers import stored_readings, wait_until


def test_retries_and_disorder_store_and_count_once(service, service_env, clean_db, report):
    service.start("web")
    service.start("worker")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    readings = []
    for minute in range(30):
        for k in range(3):
            moment = start + timedelta(minutes=minute, seconds=7 + k)
            readings.append(meter(f"DM{k}", moment, kwh=1.0 + k / 10, voltage=231.0))
            readings.append(
                vehicle(f"DV{k}", f"DM{k}", moment + timedelta(seconds=3), kwh=0.9, soc=20 + minute)
            )
    copies = readings * 3
    rng = random.Random(4)
    rng.shuffle(copies)
    posts = 0
    while copies:
        size = rng.randint(1, 40)
        body, copies = copies[:size], copies[size:]
        assert service.post(body).status == 202
        posts += 1
    wait_until(lambda: stored_readings(clean_db) == len(readings), what="every reading stored")
    service.flask("refresh-performance")

    records, _ = ReadingValidator(Settings.from_env(service_env)).validate(readings)
    expected = efficiency(records, datetime.now(UTC))
    for k in range(3):
        served = orjson.loads(service.get(f"/v1/analytics/performance/DV{k}").data)
        for key, value in expected[f"DV{k}"].items():
            assert served[key] == pytest.approx(value, abs=1e-9), (k, key)
        assert served["totalAcConsumedKwh"] == pytest.approx(30 * (1.0 + k / 10), abs=1e-9)
        # The newest reading wins, whichever copy arrived last.
        current = orjson.loads(service.get(f"/v1/vehicles/DV{k}").data)
        assert current["soc"] == 20 + 29
    assert stored_readings(clean_db) == len(readings)
    stored = stored_readings(clean_db)
    report(sent=3 * len(readings), posts=posts, distinct=len(readings), stored=stored)

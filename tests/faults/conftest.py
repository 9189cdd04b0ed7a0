"""Fault tests: the real processes under load from ledger-keeping devices, while something breaks.

Each test ends by comparing the devices' ledger with history (tests/faults/devices.py) and
records its figures in tests/artifacts/faults.json: readings sent, acknowledged and stored.
"""

from __future__ import annotations

import fcntl
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faults.devices import Devices
from tests.support.constants import ROOT
from tests.support.service import service, service_env

__all__ = ["service", "service_env"]

REPORT = ROOT / "tests" / "artifacts" / "faults.json"


@pytest.fixture
def devices(service: Any) -> Iterator[Callable[..., Devices]]:
    started: list[Devices] = []

    def start(**options: Any) -> Devices:
        load = Devices(service.url, f"F{uuid.uuid4().hex[:6]}", **options)
        load.start()
        started.append(load)
        return load

    yield start
    for load in started:
        load.stop()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Keep a test's figures for the closing note: tests/artifacts/faults.json."""

    def record(**figures: Any) -> None:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        # Tests on other xdist workers write it too: one read-modify-write at a time.
        with (REPORT.parent / "faults.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            results = json.loads(REPORT.read_text()) if REPORT.exists() else {}
            results[request.node.name] = figures
            REPORT.write_text(json.dumps(results, indent=2, sort_keys=True))
        print(request.node.name, figures)

    return record

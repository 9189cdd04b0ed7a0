"""PostgreSQL connections: a process whose pools could open more than the server allows refuses
to start, saying why and what to change; the defaults start; `flask --app web connections` sums a
deployment and says whether it fits (docs/SCALING.md, "Connections")."""

from __future__ import annotations

import pytest

from tests.support.helpers import wait_until
from tools.stack import procfile


@pytest.mark.parametrize(
    ("process", "setting", "value", "knob"),
    [
        ("worker", "WORKER_CONCURRENCY", "40", "WORKER_CONCURRENCY"),
        ("web", "WEB_THREADS", "100", "WEB_CONCURRENCY or WEB_THREADS"),
    ],
)
def test_a_process_that_cannot_fit_refuses_to_start(service, process, setting, value, knob):
    service.env[setting] = value
    started = service.start(f"{process}-too-big", command=procfile()[process])
    assert started.wait(60) == 1
    log = service.log(f"{process}-too-big")
    assert f"ev {process} refuses to start: it may open" in log
    assert "PostgreSQL allows" in log
    assert f"Lower {knob}" in log


def test_the_defaults_start_and_the_cli_sums_a_deployment(service):
    service.start("web")
    worker = service.start("worker")
    wait_until(lambda: " ready." in service.log("worker"), 60, "the worker to be ready")
    fits = service.flask("connections", "--workers", "4").stdout
    assert "worker    4 x" in fits
    assert "fits," in fits
    too_many = service.flask("connections", "--workers", "40", ok=False)
    assert too_many.returncode == 1
    assert "do not fit in" in too_many.stderr
    assert worker.poll() is None, "the default worker is still running"
    assert service.get("/readyz").status == 200

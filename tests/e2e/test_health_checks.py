"""The worker's and beat's container health checks (docker-compose.yml) against the real
processes: healthy while they run, unhealthy, saying why, once they are gone."""

from __future__ import annotations

import subprocess
import sys

from tests.support.constants import ROOT
from tests.support.helpers import wait_until


def check(service, which: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.health", which],
        cwd=ROOT,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_and_beat_are_healthy_while_they_run_and_not_after(service):
    assert check(service, "beat").returncode == 1  # no beat yet: nobody sends the schedule
    service.start("worker")
    service.start("beat")
    wait_until(lambda: check(service, "worker").returncode == 0, 60, "the worker's ping")
    wait_until(lambda: check(service, "beat").returncode == 0, 60, "beat's lease")

    service.stop("worker")
    stopped = check(service, "worker")
    assert stopped.returncode == 1
    assert "did not answer a ping" in stopped.stderr
    # Stopped cleanly, beat gives its lease back at once.
    service.stop("beat")
    gone = check(service, "beat")
    assert gone.returncode == 1
    assert "no beat holds the lease" in gone.stderr
    assert check(service, "nonsense").returncode == 2

"""prometheus_client's multiprocess mode as its documentation asks: a process that ends marks
itself dead, so the live gauges it held stop adding to its directory's sums, while what it
counted stays."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.constants import ROOT

ENDS = {
    "normally": "",
    # How Celery's prefork pool ends a child: its shutdown signal, then os._exit (no atexit).
    "as_a_celery_pool_process": (
        "from celery import signals; import workers.celery_app; "
        "signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0); "
        "os._exit(0)"
    ),
}


def _sums(directory: str) -> dict[str, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return {
        sample.name: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name in ("ev_ocpp_connections", "ev_readings_dead_lettered_total")
    }


@pytest.mark.parametrize("how", ENDS)
def test_a_process_that_ends_stops_adding_its_live_gauges_but_keeps_its_counts(tmp_path, how):
    env = {**os.environ, "METRICS_DIR": str(tmp_path)}
    script = (
        "import os, metrics\n"
        "metrics.OCPP_CONNECTIONS.set(3)\n"
        "metrics.DEAD_LETTERED.inc(2)\n"
        f"{ENDS[how]}\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    assert _sums(str(tmp_path)) == {"ev_readings_dead_lettered_total": 2.0}

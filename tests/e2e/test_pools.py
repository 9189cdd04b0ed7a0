"""Every Celery pool either consumes the ingest stream or refuses to start, saying why; and the
ingest shows in Celery's own tools (`celery inspect ingest`, task events for Flower)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.support.constants import ROOT
from tests.support.factories import at, meter
from tests.support.helpers import stored_readings, wait_until

NODE = "pooltest@localhost"


@pytest.mark.parametrize(("pool", "consumers"), [("prefork", 2), ("solo", 1), ("threads", 2)])
def test_pool_consumes_and_shows_its_batches(service, clean_db, tmp_path, pool, consumers):
    service.start("web")
    service.start("worker", "--pool", pool, "--concurrency", "2", "-n", NODE)
    # Flower's view: the events the worker sends, as `celery events --dump` prints them.
    dump_log = (tmp_path / "events.log").open("w")
    dump = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "events", "--dump"],
        cwd=ROOT,
        env=service.env,
        stdout=dump_log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Subscribed before the batches happen: it has heard the worker (its heartbeats).
        wait_until(lambda: NODE in (tmp_path / "events.log").read_text(), 60, "the dump to hear it")
        readings = [meter(f"{pool}-M{i}", at(i), kwh=0.1) for i in range(60)]
        assert service.post(readings).status == 202
        wait_until(lambda: stored_readings(clean_db) == 60, what=f"the {pool} worker to store")
        wait_until(
            lambda: "ev.ingest_batch" in (tmp_path / "events.log").read_text(),
            30,
            "a batch in the event stream",
        )
    finally:
        dump.send_signal(signal.SIGINT)
        try:
            dump.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine: the dump is no longer needed
            dump.kill()
            dump.wait(10)
        dump_log.close()
    events = (tmp_path / "events.log").read_text()
    assert f"'consumer': '{NODE}#" in events
    assert "'readings': " in events

    # A control command is a broadcast the worker answers once it has read it; on a loaded
    # machine an answer can miss Celery's wait, so the operator asks again.
    asked: list = []

    def answered() -> bool:
        asked.append(service.celery("inspect", "ingest", "--json", "-d", NODE, ok=False))
        return asked[-1].returncode == 0

    try:
        wait_until(answered, 60, f"{NODE} to answer celery inspect ingest")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {asked[-1].stderr}") from None
    reply = json.loads(asked[-1].stdout)[NODE]
    names = sorted(c["name"] for c in reply["consumers"])
    assert names == [f"{NODE}#{i}" for i in range(consumers)]
    assert reply["backlog"] == 0


@pytest.mark.parametrize("pool", ["gevent", "eventlet"])
def test_green_pools_are_refused_with_the_reason(service, clean_db, pool):
    process = service.start("worker", "--pool", pool)
    assert process.wait(60) == 1
    log = service.log("worker")
    assert f"ev worker refuses to start: --pool {pool} cannot run the ingest consumers" in log
    assert "use --pool prefork (the default), threads or solo" in log

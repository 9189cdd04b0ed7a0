"""Fault 2: PostgreSQL goes down and comes back mid-ingest."""

import time

import urllib3

from buffer.stream import IngestStream
from storage.redis_client import connect
from tests.faults.devices import check_ledger
from tests.support.helpers import wait_until


def test_postgres_restart_mid_ingest_loses_nothing(service, devices, private_postgres, report):
    service.env["DATABASE_URL"] = private_postgres.url
    service.env["DB_RETRY_MAX_SECONDS"] = "1"
    service.start("web")
    worker = service.start("worker")
    stream = IngestStream(connect(service.env["REDIS_URL"], 5), service.env["REDIS_KEY_PREFIX"])
    load = devices(batch=20, rate=40)
    wait_until(lambda: load.acked_count() > 2000, what="readings accepted")

    private_postgres.crash()
    down_at = load.acked_count()
    time.sleep(4)
    accepted_while_down = load.acked_count() - down_at
    ready = urllib3.request("GET", service.url + "/readyz", timeout=10, retries=False)
    private_postgres.start()

    wait_until(lambda: load.acked_count() > down_at + accepted_while_down + 2000, 60, "more load")
    ledger = load.stop()
    wait_until(lambda: stream.backlog() == 0, 60, "the worker to catch up")
    figures = check_ledger(private_postgres.engine(), ledger, load.prefix)

    assert set(ledger.statuses) == {202}, ledger.statuses  # the stream buffered the outage
    assert accepted_while_down > 500
    assert ready.status == 503  # /readyz tells a load balancer PostgreSQL is away
    assert worker.poll() is None  # the same worker process retried; no crash, no restart loop
    assert "_retry" in service.log("worker")
    report(accepted_while_postgres_down=accepted_while_down, **figures)

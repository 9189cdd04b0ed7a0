"""Fault 1: kill -9 of a worker while it holds a batch, under load, several times."""

import signal

from buffer.stream import IngestStream
from tests.faults.devices import check_ledger
from tests.support.helpers import wait_until


def test_kill_9_worker_holding_a_batch_loses_nothing(
    service, devices, clean_db, redis_client, report
):
    stream = IngestStream(redis_client, service.env["REDIS_KEY_PREFIX"])
    service.start("web")
    service.start("worker")
    load = devices(batch=25, rate=40)  # 1,000 readings a second
    held = []
    for round_ in range(1, 4):
        goal = 1500 * round_
        wait_until(lambda: load.acked_count() > goal, what="readings accepted")  # noqa: B023
        # Pending entries are delivered to a consumer and not acknowledged: a batch in its hands.
        wait_until(lambda: stream.stats().pending > 0, what="a worker holding a batch")
        held.append(stream.stats().pending)
        service.stop("worker", signal.SIGKILL)
        service.start("worker")
    wait_until(lambda: load.acked_count() > 6000, what="more readings after the last restart")
    ledger = load.stop()
    wait_until(lambda: stream.backlog() == 0, 60, "the restarted worker to drain the stream")

    figures = check_ledger(clean_db, ledger, load.prefix)
    assert set(ledger.statuses) == {202}, ledger.statuses  # ingest never noticed
    report(kills=len(held), pending_entries_at_each_kill=held, **figures)

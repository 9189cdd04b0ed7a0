"""Fault 6: the stream is at its bound; ingest refuses with 503 + Retry-After, then recovers."""

from buffer.stream import IngestStream
from tests.faults.devices import check_ledger
from tests.support.helpers import wait_until

BOUND = 500


def test_full_buffer_refuses_then_recovers_as_workers_drain(
    service, devices, redis_client, clean_db, report
):
    service.env["STREAM_MAX_READINGS"] = str(BOUND)
    stream = IngestStream(redis_client, service.env["REDIS_KEY_PREFIX"])
    service.start("web")  # no worker yet: nothing drains
    load = devices(batch=50, rate=20)
    wait_until(lambda: load.ledger.statuses[503] >= 5, what="ingest to refuse")
    held = stream.backlog()
    accepted_before = load.acked_count()
    assert BOUND <= held < BOUND + 50  # one request may overshoot by its own size, no more

    service.start("worker")
    wait_until(lambda: load.acked_count() > accepted_before + 2000, 30, "ingest to recover")
    ledger = load.stop()
    wait_until(lambda: stream.backlog() == 0, 30, "the worker to drain")
    figures = check_ledger(clean_db, ledger, load.prefix)
    report(bound=BOUND, backlog_when_full=held, refused_503=ledger.statuses[503], **figures)

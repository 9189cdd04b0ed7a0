"""Fault 7: SIGTERM to a worker under load, and to web with a request in flight."""

import signal
import socket
import time

import orjson

from buffer.stream import IngestStream
from tests.faults.devices import check_ledger
from tests.support.constants import DEVICE_TOKEN
from tests.support.factories import meter
from tests.support.helpers import stored_readings, wait_until


def test_sigterm_to_worker_under_load_acks_only_what_committed(
    service, devices, redis_client, clean_db, report
):
    stream = IngestStream(redis_client, service.env["REDIS_KEY_PREFIX"])
    service.start("web")
    service.start("worker")
    load = devices(batch=25, rate=40)
    wait_until(lambda: load.acked_count() > 2000, what="readings accepted")
    # Under load: the worker storing and past its start. Its pool stores readings before the
    # main process says it is ready (mingle takes a second); a SIGTERM to the group in that
    # window ends the worker with Celery's "Could not start worker processes", exit code 1,
    # nothing lost (docs/RELIABILITY.md): not the stop this test is about.
    wait_until(lambda: stored_readings(clean_db) > 0, what="the worker storing readings")
    wait_until(lambda: " ready." in service.log("worker"), 60, "the worker to be ready")
    started = time.monotonic()
    code = service.stop("worker", signal.SIGTERM, timeout=30)
    stop_seconds = time.monotonic() - started
    assert code == 0, service.log("worker")[-2000:]  # a warm shutdown, not killed
    assert "event=stop" in service.log("worker")
    service.start("worker")
    wait_until(lambda: load.acked_count() > 4000, what="more readings after the restart")
    ledger = load.stop()
    wait_until(lambda: stream.backlog() == 0, 60, "the stream drained")
    figures = check_ledger(clean_db, ledger, load.prefix)
    report(worker_stop_seconds=round(stop_seconds, 2), **figures)


def test_sigterm_to_web_finishes_the_request_in_flight(service, clean_db, report):
    service.start("web")
    service.start("worker")
    body = orjson.dumps([meter(f"G{i}") for i in range(2000)])
    head = (
        f"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {DEVICE_TOKEN}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", int(service.env["PORT"])), timeout=30) as conn:
        conn.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)  # a web worker is now reading this request
        web = service.processes["web"]
        web.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        conn.sendall(body[len(body) // 2 :])
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.upper() == b"HTTP/1.1 202 ACCEPTED", reply[:500]
    assert orjson.loads(rest.partition(b"\r\n\r\n")[2]) == {
        "accepted": 2000,
        "rejected": [],
        "rejectedCount": 0,
    }
    assert web.wait(30) == 0  # then it stopped, cleanly
    wait_until(lambda: stored_readings(clean_db) == 2000, what="the in-flight request's readings")
    report(sent=2000, acknowledged=2000, stored=stored_readings(clean_db))

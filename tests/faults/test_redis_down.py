"""Fault 3: Redis goes down; ingest answers 503 promptly, and recovers by itself."""

import time

import orjson
import urllib3

from buffer.stream import IngestStream
from storage.redis_client import connect
from tests.faults.devices import check_ledger
from tests.support.constants import DEVICE_TOKEN
from tests.support.factories import meter
from tests.support.helpers import wait_until


def _post(url: str) -> tuple[urllib3.BaseHTTPResponse, float]:
    started = time.monotonic()
    reply = urllib3.request(
        "POST",
        url + "/v1/ingest",
        body=orjson.dumps(meter("R1")),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {DEVICE_TOKEN}"},
        timeout=30,
        retries=False,
    )
    return reply, time.monotonic() - started


def test_redis_down_gives_503_with_retry_after_then_recovers(
    service, devices, private_redis, clean_db, report
):
    service.env["REDIS_URL"] = private_redis.url
    service.env["REDIS_TIMEOUT_SECONDS"] = "1"
    service.start("web")
    service.start("worker")
    load = devices(batch=20, rate=20)
    wait_until(lambda: load.acked_count() > 1000, what="readings accepted")

    private_redis.kill()
    reply, seconds = _post(service.url)
    ready = urllib3.request("GET", service.url + "/readyz", timeout=30, retries=False)
    time.sleep(2)
    refused_while_down = load.ledger.statuses[503]
    private_redis.start()

    assert reply.status == 503
    assert reply.headers["Retry-After"].isdigit()
    assert orjson.loads(reply.data)["error"] == "buffer_unavailable"
    assert seconds < 5  # bounded by REDIS_TIMEOUT_SECONDS, not a hang
    assert ready.status == 503
    assert refused_while_down > 0

    # Back without restarting anything: the same web and worker processes.
    wait_until(lambda: _post(service.url)[0].status == 202, 30, "ingest to work again")
    back_at = load.acked_count()
    wait_until(lambda: load.acked_count() > back_at + 1000, 30, "the devices to be accepted")
    ledger = load.stop()
    stream = IngestStream(connect(private_redis.url, 5), service.env["REDIS_KEY_PREFIX"])
    wait_until(lambda: stream.backlog() == 0, 60, "the worker to drain the stream")
    figures = check_ledger(clean_db, ledger, load.prefix)
    report(answer_seconds_while_down=round(seconds, 3), refused_503=refused_while_down, **figures)

"""End to end on real processes: devices POST to web (Granian), celery workers write PostgreSQL,
the refresh (command or beat) fills the table, and the API serves the seed's published figures."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from efficiency.reference import efficiency
from readings.validation import ReadingValidator
from tests.support import seed
from tests.support.constants import DEVICE_TOKEN, ROOT
from tests.support.factories import meter, vehicle
from tests.support.helpers import stored_readings, wait_until


def test_seed_sample_end_to_end(service, clean_db):
    service.start("web")
    service.start("worker")
    readings = seed.readings()
    half = len(readings) // 2
    for reading in readings[:half]:
        reply = service.post(reading)
        assert reply.status == 202, reply.data
    reply = service.post(readings[half:])
    assert reply.status == 202
    assert orjson.loads(reply.data) == {"accepted": half, "rejected": [], "rejectedCount": 0}

    wait_until(lambda: stored_readings(clean_db) == 20, what="the worker to commit the sample")
    out = service.flask("refresh-performance", "--as-of", seed.AS_OF)
    assert "2 vehicles" in out.stdout

    for vehicle_id, expected in seed.EXPECTED.items():
        reply = service.get(f"/v1/analytics/performance/{vehicle_id}")
        assert reply.status == 200
        body = orjson.loads(reply.data)
        for key, value in expected.items():
            assert body[key] == pytest.approx(value, abs=1e-9), (vehicle_id, key)
    reply = service.get("/v1/analytics/performance/V3")
    assert reply.status == 404
    assert orjson.loads(reply.data) == seed.NOT_FOUND

    current = orjson.loads(service.get("/v1/vehicles/V2").data)
    assert current["soc"] == 49.25
    assert datetime.fromisoformat(current["timestamp"]) == datetime.fromisoformat(
        "2026-02-10T14:56:24.843Z"
    )


def test_beat_refreshes_the_table_by_itself(service, service_env, clean_db):
    service.env["REFRESH_SECONDS"] = "2"
    service.start("web")
    service.start("worker")
    service.start("beat", "--schedule", str(service.logs / "beat-schedule"))
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    body = []
    for minute in range(5):
        moment = start + timedelta(minutes=minute, seconds=20)
        body += [
            meter("M1", moment, kwh=1.0 + minute / 10),
            vehicle("V1", "M1", moment + timedelta(seconds=5), kwh=0.9, soc=40 + minute),
        ]
    assert service.post(body).status == 202
    wait_until(
        lambda: service.get("/v1/analytics/performance/V1").status == 200,
        what="beat's refresh to serve V1",
    )
    served = orjson.loads(service.get("/v1/analytics/performance/V1").data)
    records, _ = ReadingValidator(_settings(service_env)).validate(body)
    expected = efficiency(records, datetime.now(UTC))["V1"]
    for key, value in expected.items():
        assert served[key] == pytest.approx(value, abs=1e-9), key
    assert "event=refresh" in service.log("worker")


def test_worker_stops_on_sigterm_without_losing_its_batch(service, clean_db):
    service.start("web")
    service.start("worker")
    for i in range(20):
        assert service.post([meter(f"M{i}-{j}") for j in range(50)]).status == 202
    assert service.stop("worker", signal.SIGTERM, timeout=30) is not None
    service.start("worker")
    wait_until(lambda: stored_readings(clean_db) == 1000, what="every accepted reading stored")


def test_make_run_starts_everything_and_ctrl_c_stops_it(service_env, clean_db, tmp_path):
    """What `make run` runs: migrations, partitions, the Procfile's processes; Ctrl-C ends all."""
    env = {**service_env, "DATA_DIR": str(tmp_path / "run-data")}
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.local", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output = tmp_path / "make-run.log"
        wait_until(lambda: "ev telemetry on http://127.0.0.1:" in output.read_text(), 60, "URL")
        import urllib3

        http = urllib3.PoolManager(retries=False)
        url = f"http://127.0.0.1:{env['PORT']}"

        def answers() -> bool:
            try:
                return http.request("GET", url + "/readyz").status == 200
            except urllib3.exceptions.HTTPError:
                return False

        wait_until(answers, 60, "the web process")
        printed = output.read_text()
        assert f"device token:  {env['DEVICE_TOKENS']}" in printed
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        started = time.monotonic()
        process.wait(30)
        assert time.monotonic() - started < 15
        assert not answers()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def _settings(env):
    from settings import Settings

    return Settings.from_env(env)


def _post_chunked(port: int, body: bytes, chunk: int = 1000) -> tuple[int, dict]:
    """POST with Transfer-Encoding: chunked (no Content-Length), as a streaming device does."""
    head = (
        "POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {DEVICE_TOKEN}\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + framed)
        reply = b""
        with contextlib.suppress(ConnectionResetError):
            while data := conn.recv(65536):
                reply += data
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), orjson.loads(rest.partition(b"\r\n\r\n")[2])


def test_a_chunked_body_over_the_limit_is_413_not_a_truncated_400(service, clean_db):
    """Devices drop a batch answered 400 and split one answered 413."""
    service.env["MAX_BODY_BYTES"] = "20000"
    service.start("web")
    port = int(service.env["PORT"])
    small = orjson.dumps([meter(f"C{i}") for i in range(50)])
    large = orjson.dumps([meter(f"C{i}") for i in range(400)])
    assert len(small) < 20_000 < len(large)
    assert _post_chunked(port, small) == (202, {"accepted": 50, "rejected": [], "rejectedCount": 0})
    status, reply = _post_chunked(port, large)
    assert status == 413
    assert reply["error"] == "body_too_large"

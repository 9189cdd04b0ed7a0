"""Slow, stalled and idle clients against the Procfile's web process as shipped (its defaults, the
two client timeouts shortened so that the test waits seconds, not half a minute): they hold
sockets, never what runs the app, and an ordinary device is answered meanwhile."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from buffer.stream import IngestStream
from storage.redis_client import connect
from tests.support.constants import DEVICE_TOKEN
from tests.support.factories import meter
from tests.support.helpers import wait_until

SLOW_READERS, STALLED_UPLOADS, IDLE = 40, 40, 300
# Generous bounds that tell an answer from a hang; not timings.
ANSWERED_WITHIN = 1.0
TIMEOUT = 3


def _connect(port: int, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:
        # Before connecting, so the window offered is this small: the server's writes stall.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    return sock


def _head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextmanager
def _held(port: int) -> Iterator[dict[str, list[socket.socket]]]:
    held: dict[str, list[socket.socket]] = {"readers": [], "uploads": [], "idle": []}
    try:
        for _ in range(SLOW_READERS):  # ask for the 4.8 MB chart library, never read it
            sock = _connect(port, receive_buffer=4096)
            sock.sendall(_head("GET", "/dashboard/assets/plotly.min.js"))
            held["readers"].append(sock)
        for _ in range(STALLED_UPLOADS):  # promise 100 kB, send one byte, then nothing
            sock = _connect(port)
            head = _head(
                "POST",
                "/v1/ingest",
                **{
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {DEVICE_TOKEN}",
                    "Content-Length": "100000",
                },
            )
            sock.sendall(head + b"[")
            held["uploads"].append(sock)
        for _ in range(IDLE):  # connect, send nothing
            held["idle"].append(_connect(port))
        yield held
    finally:
        for socks in held.values():
            for sock in socks:
                sock.close()


def _answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before it closed the connection (b'' if it closed without a word)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _post_reading(port: int, reading: dict) -> tuple[int, float]:
    body = orjson.dumps(reading)
    started = time.monotonic()
    with _connect(port) as sock:
        sock.settimeout(10)
        sock.sendall(
            _head(
                "POST",
                "/v1/ingest",
                **{
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {DEVICE_TOKEN}",
                    "Content-Length": str(len(body)),
                    "Connection": "close",
                },
            )
            + body
        )
        reply = _answer(sock, 10)
    return int(reply.split(b" ", 2)[1]), time.monotonic() - started


def test_slow_stalled_and_idle_clients_leave_ingest_answering(service, report):
    service.env["HEADER_TIMEOUT_SECONDS"] = str(TIMEOUT)
    service.env["BODY_TIMEOUT_SECONDS"] = str(TIMEOUT)
    service.start("web")
    service.start("worker")
    port = int(service.env["PORT"])

    with _held(port) as held:
        time.sleep(0.5)  # every held request has reached the server
        answers = [_post_reading(port, meter("SLOW1", kwh=0.1 * i)) for i in range(1, 6)]
        healthz_started = time.monotonic()
        healthz = service.http.request("GET", service.url + "/healthz", timeout=10)
        healthz_seconds = time.monotonic() - healthz_started

        # A stalled upload is answered 408 once its deadline passes, and closed.
        stalled = [_answer(sock, TIMEOUT + 10) for sock in held["uploads"]]
        # An idle connection is closed once HEADER_TIMEOUT_SECONDS pass.
        idle = [_answer(sock, TIMEOUT + 10) for sock in held["idle"]]

    assert [status for status, _ in answers] == [202] * 5
    slowest = max(seconds for _, seconds in answers)
    assert slowest < ANSWERED_WITHIN, f"an ordinary POST took {slowest:.2f} s"
    assert healthz.status == 200
    assert healthz_seconds < ANSWERED_WITHIN

    for reply in stalled:
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), reply[:200]
        assert orjson.loads(body)["error"] == "body_timeout"
    assert idle == [b""] * IDLE

    # Nothing of the stalled uploads was queued: only the five ordinary readings.
    stream = IngestStream(connect(service.env["REDIS_URL"], 5), service.env["REDIS_KEY_PREFIX"])
    wait_until(lambda: stream.backlog() == 0, 30, "the worker to drain the stream")
    assert service.log("web").count("status=408 error=body_timeout") == STALLED_UPLOADS
    report(
        held=SLOW_READERS + STALLED_UPLOADS + IDLE,
        slowest_ordinary_post_s=round(slowest, 3),
        healthz_s=round(healthz_seconds, 3),
    )


def test_a_slow_reader_gets_the_whole_file_while_a_stuck_one_holds_nothing(service):
    service.start("web")
    port = int(service.env["PORT"])
    whole = service.http.request("GET", service.url + "/dashboard/assets/plotly.min.js").data
    assert len(whole) > 1_000_000

    with _connect(port, receive_buffer=4096) as stuck, _connect(port) as slow:
        stuck.sendall(_head("GET", "/dashboard/assets/plotly.min.js"))
        slow.sendall(_head("GET", "/dashboard/assets/plotly.min.js", Connection="close"))
        slow.settimeout(10)
        got = b""
        while chunk := slow.recv(256 * 1024):  # takes a while, never stalls
            got += chunk
            time.sleep(0.01)
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert body == whole
        # While the stuck reader still holds its socket, web answers at once.
        started = time.monotonic()
        assert _post_reading(port, meter("SLOW2"))[0] == 202
        assert time.monotonic() - started < ANSWERED_WITHIN

"""Chargers that send what no charger should, against the real ocpp process: answers nobody
asked for (the process's memory must not keep them), megabyte frames (the log must not keep
them), and frames that are not OCPP-J CALLs (a CALLERROR, and the connection goes on)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.support.constants import DEVICE_TOKEN
from tests.support.helpers import listening, wait_until
from tools.local import free_port

MB = 1_000_000
PROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


@pytest.fixture
def ocpp(service) -> tuple[str, int]:
    """The ocpp process alone (frames need no worker): its ws:// base URL and process ID."""
    port = free_port()
    service.env["OCPP_PORT"] = str(port)
    process = service.start("ocpp")
    wait_until(lambda: listening(port), what="ocpp to listen")
    return f"ws://127.0.0.1:{port}/ocpp", process.pid


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _basic(cp: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cp}:{DEVICE_TOKEN}".encode()).decode()}


async def _open(url: str, cp: str, version: str = "1.6") -> ClientConnection:
    return await connect(
        f"{url}/{cp}",
        subprotocols=[Subprotocol(PROTOCOLS[version])],
        additional_headers=_basic(cp),
        max_size=None,
    )


async def _heartbeat(ws: ClientConnection, unique_id: str = "hb") -> list:
    """The answer to a Heartbeat: the connection still serves."""
    await ws.send(json.dumps([2, unique_id, "Heartbeat", {}]))
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


def _answers(big: str, count: int) -> list[str]:
    """CALLRESULTs and CALLERRORs nobody asked for, each about a megabyte."""
    return [
        json.dumps([3, f"r{i}", {"data": big}])
        if i % 2
        else json.dumps([4, f"e{i}", "GenericError", "", {"data": big}])
        for i in range(count)
    ]


def test_answers_nobody_asked_for_are_dropped_and_leave_no_memory_behind(ocpp):
    url, pid = ocpp

    async def flood() -> tuple[float, float, float]:
        ws = await _open(url, "CP-MEM")
        await _heartbeat(ws, "warm")
        before = rss_mb(pid)
        for frame in _answers("a" * MB, 150):
            await ws.send(frame)
        # Nothing is answered to an answer: the next thing back is the heartbeat's.
        assert (await _heartbeat(ws, "after"))[:2] == [3, "after"]
        during = rss_mb(pid)
        await ws.close()
        await asyncio.sleep(1)
        return before, during, rss_mb(pid)

    before, during, after = asyncio.run(flood())
    # Before the fix: 63 MB to 379 MB, and never released after the socket closed.
    assert during - before < 40, (before, during)
    assert after - before < 40, (before, after)


def test_each_message_is_one_log_line_without_its_body(ocpp, service):
    url, _ = ocpp
    big = "b" * MB

    async def send() -> list:
        ws = await _open(url, "CP-LOG")
        for frame in _answers(big, 200):
            await ws.send(frame)
        answers = []
        for i in range(100):  # CALLs of a megabyte, each answered
            call = [2, f"dt{i}", "DataTransfer", {"vendorId": "acme", "data": big}]
            await ws.send(json.dumps(call))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        await ws.close()
        return answers

    answers = asyncio.run(send())
    assert answers[0] == [3, "dt0", {"status": "UnknownVendorId"}]
    log = service.log("ocpp")
    # 300 MB sent: the log holds a line per message, never a body (630 MB before the fix).
    assert len(log) < 200_000, len(log)
    assert "bbbbbbbbbb" not in log
    lines = [line for line in log.splitlines() if "event=ocpp_message" in line]
    dropped = [line for line in lines if "outcome=dropped" in line]
    confirmed = [line for line in lines if "action=DataTransfer" in line]
    assert len(dropped) == 200
    assert len(confirmed) == 100
    assert "charger=CP-LOG" in confirmed[0]
    assert "bytes=10000" in confirmed[0]  # its size, in bytes
    assert "outcome=confirmed" in confirmed[0]


# Frames that are not routable CALLs: (frame, the unique ID the CALLERROR must carry).
MALFORMED = [
    ('[2,"u1",["MeterValues"],{}]', "u1"),  # an action that is an array
    ('[2,"u2",{"action":"MeterValues"},{}]', "u2"),  # ... or an object
    ('[2,"u3","Heartbeat",[]]', "u3"),  # a payload that is not an object
    ('[2,"u4","Heartbeat"]', "u4"),  # three elements
    ('[9,"u5","Heartbeat",{}]', "u5"),  # no such message type
    ('[2.0,"u6","Heartbeat",{}]', "u6"),  # a type that is not an integer
    ('[2,7,"Heartbeat",{}]', "-1"),  # a unique ID that is not a string
    ('{"not":"a frame"}', "-1"),
    ("not JSON at all", "-1"),
    ("[" * 200_000 + "]" * 200_000, "-1"),  # nested past any parser's recursion
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_malformed_frames_get_a_callerror_and_the_connection_goes_on(ocpp, version):
    url, _ = ocpp
    code = "FormationViolation" if version == "1.6" else "RpcFrameworkError"

    async def send() -> tuple[list, list]:
        ws = await _open(url, "CP-BAD", version)
        got = []
        for frame, _ in MALFORMED:
            await ws.send(frame)
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        alive = await _heartbeat(ws)
        await ws.close()
        return got, alive

    got, alive = asyncio.run(send())
    for (frame, unique_id), answer in zip(MALFORMED, got, strict=True):
        assert answer[:3] == [4, unique_id, code], (frame[:40], answer)
        assert answer[3], "the description says what is wrong"
    assert alive[:2] == [3, "hb"]

"""`python -m bench --ocpp`: how many chargers one `ocpp` process holds (docs/OCPP.md).

`connections` chargers connect over OCPP 1.6J (Basic auth, a gateway token), boot, and each
sends a MeterValues with its register once every `period` seconds (staggered) for `seconds`;
every confirmation's latency is measured from the send. `rich`: each MeterValues also carries
power, per-phase current and voltage, SoC and temperature (nine sampled values, all kept), and
every tenth is followed by a StatusNotification (kept too); the bytes each kept sample costs are
measured beside a reading's. The ocpp process's resident memory is read before the first
connection and with all of them open. The load comes from one client process per 2,500
connections (asyncio; no compression, as the server).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import multiprocessing
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import psutil
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.refresh import table_bytes
from bench.stack import DEVICE_TOKEN, Service
from tools.local import free_port
from tools.stack import wait_until

PER_CLIENT = 2500
BOOT = {"chargePointVendor": "bench", "chargePointModel": "bench"}


# What a charger measures besides energy, as a rich MeterValues carries it (docs/OCPP.md).
MEASURED = [
    {"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"},
    *({"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": p}
      for p in ("L1", "L2", "L3")),
    *({"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": f"{p}-N"}
      for p in ("L1", "L2", "L3")),
    {"value": "63", "measurand": "SoC", "unit": "Percent", "location": "EV"},
    {"value": "31.5", "measurand": "Temperature", "unit": "Celsius", "location": "Body"},
]  # fmt: skip
STATUSES = ("Charging", "SuspendedEV")


def run(
    service: Service, connections: int, seconds: float, period: float, rich: bool = False
) -> dict[str, Any]:
    service.reset()
    port = free_port()
    with service.running("ocpp", OCPP_PORT=port) as stack:
        stack.start("ocpp")
        wait_until(lambda: _listening(port), 60, "ocpp to listen")
        process = psutil.Process(stack.processes["ocpp"].pid)
        idle_rss = process.memory_info().rss
        clients = max(1, -(-connections // PER_CLIENT))
        ready = multiprocessing.Barrier(clients + 1)
        results: multiprocessing.Queue[dict[str, Any]] = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(
                target=_client,
                args=(
                    port,
                    i,
                    min(PER_CLIENT, connections - i * PER_CLIENT),
                    seconds,
                    period,
                    rich,
                    ready,
                    results,
                ),
            )
            for i in range(clients)
        ]
        for worker in workers:
            worker.start()
        connect_started = time.monotonic()
        ready.wait(timeout=600)  # every charger connected and booted
        connect_seconds = time.monotonic() - connect_started
        held_rss = process.memory_info().rss
        cpu = process.cpu_times()
        parts = [results.get(timeout=seconds + 600) for _ in workers]
        used = process.cpu_times()
        load_cpu = used.user + used.system - cpu.user - cpu.system
        for worker in workers:
            worker.join(60)
        service.wait_drained()
        storage = table_bytes(service.engine(), ("meter_readings", "charger_samples"))
    latencies = sorted(x for part in parts for x in part["latencies"])
    connected = sum(part["connected"] for part in parts)
    return {
        "rich": rich,
        "connections": connections,
        "connected": connected,
        "connect_seconds": connect_seconds,
        "period_s": period,
        "seconds": seconds,
        "messages": len(latencies),
        "errors": sum(part["errors"] for part in parts),
        "p50_ms": _quantile(latencies, 0.5) * 1000,
        "p99_ms": _quantile(latencies, 0.99) * 1000,
        "idle_rss_mb": idle_rss / 2**20,
        "held_rss_mb": held_rss / 2**20,
        "kb_per_connection": (held_rss - idle_rss) / max(1, connected) / 1024,
        "statuses": sum(part["statuses"] for part in parts),
        # The ocpp process's CPU (user + system) per confirmed message, under load.
        "cpu_ms_per_message": load_cpu / max(1, len(latencies)) * 1000,
        "storage": storage,
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _client(port: int, part: int, count: int, seconds: float, period: float, rich: bool,
            ready: Any, results: Any) -> None:  # fmt: skip
    results.put(asyncio.run(_chargers(port, part, count, seconds, period, rich, ready)))


async def _chargers(
    port: int, part: int, count: int, seconds: float, period: float, rich: bool, ready: Any
) -> dict[str, Any]:
    opened: list[Any] = []
    errors = 0
    for i in range(count):
        cp = f"B{part:02d}{i:05d}"
        try:
            ws = await connect(
                f"ws://127.0.0.1:{port}/ocpp/{cp}",
                subprotocols=[Subprotocol("ocpp1.6")],
                additional_headers=_basic(cp),
                compression=None,
                open_timeout=60,
                ping_interval=None,
            )
        except OSError:
            errors += 1
            continue
        await ws.send(orjson.dumps([2, "b", "BootNotification", BOOT]).decode())
        await ws.recv()
        opened.append((cp, ws))
    # Thousands of long-lived connections: the client's own collector pauses must not be
    # measured as the server's latency.
    gc.freeze()
    await asyncio.get_running_loop().run_in_executor(None, ready.wait, 600)
    latencies: list[float] = []
    statuses = 0
    deadline = time.monotonic() + seconds

    async def confirmed(frame: list[Any], ws: Any) -> None:
        nonlocal errors
        sent = time.monotonic()
        await ws.send(orjson.dumps(frame).decode())
        answer = orjson.loads(await ws.recv())
        if answer[0] == 3:
            latencies.append(time.monotonic() - sent)
        else:
            errors += 1

    async def charger(index: int, cp: str, ws: Any) -> None:
        nonlocal statuses
        await asyncio.sleep(period * index / max(1, len(opened)))  # staggered evenly
        register, sent_count = 1000.0, 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            register += 0.25
            sent_count += 1
            at = datetime.now(UTC).isoformat()
            samples = [{"value": f"{register * 1000:.0f}"}, *(MEASURED if rich else ())]
            values = {"connectorId": 1, "meterValue": [{"timestamp": at, "sampledValue": samples}]}
            await confirmed([2, f"{cp}-{register}", "MeterValues", values], ws)
            if rich and sent_count % 10 == 1:
                status = {"connectorId": 1, "errorCode": "NoError", "timestamp": at,
                          "status": STATUSES[sent_count // 10 % 2]}  # fmt: skip
                await confirmed([2, f"{cp}-s{register}", "StatusNotification", status], ws)
                statuses += 1
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    await asyncio.gather(*(charger(i, cp, ws) for i, (cp, ws) in enumerate(opened)))
    for _, ws in opened:
        await ws.close()
    return {
        "connected": len(opened),
        "errors": errors,
        "latencies": latencies,
        "statuses": statuses,
    }


def _basic(cp: str) -> dict[str, str]:
    token = base64.b64encode(f"{cp}:{DEVICE_TOKEN}".encode()).decode()
    return {"Authorization": f"Basic {token}"}

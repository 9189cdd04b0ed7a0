"""Load on the running service: Python clients posting arrays, and wrk for single requests."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson


@dataclass
class ClientResult:
    requests: int = 0
    accepted: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


def _client(
    url: str, token: str, bodies: list[bytes], seconds: float, rate: float, cpus: list[int] | None
) -> ClientResult:
    """One keep-alive connection posting bodies in turn, as fast as answered or at `rate`/s."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    result = ClientResult()
    started = time.monotonic()
    deadline = started + seconds
    for i, body in enumerate(bodies):
        if rate:
            # Paced: request i is due at started + i / rate.
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sent = time.monotonic()
        if sent >= deadline:
            break
        conn.request("POST", "/v1/ingest", body=body, headers=headers)
        reply = conn.getresponse()
        payload = reply.read()
        result.latencies_ms.append((time.monotonic() - sent) * 1000)
        result.requests += 1
        result.statuses[reply.status] += 1
        if reply.status == 202:
            result.accepted += orjson.loads(payload)["accepted"]
    conn.close()
    return result


def post_bodies(
    url: str,
    token: str,
    bodies: list[bytes],
    clients: int,
    seconds: float,
    rate: float = 0,
    cpus: list[int] | None = None,
) -> ClientResult:
    """`clients` processes share the bodies (none sent twice) for `seconds`; totals returned.

    rate: requests per second over all clients (0: as fast as the service answers).
    """
    shares = [bodies[k::clients] for k in range(clients)]
    args = [(url, token, share, seconds, rate / clients, cpus) for share in shares]
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.starmap(_client, args)
    total = ClientResult()
    for r in results:
        total.requests += r.requests
        total.accepted += r.accepted
        total.statuses.update(r.statuses)
        total.latencies_ms += r.latencies_ms
    return total


_WRK_POST = """
counter = 0
local thread_id = 0
setup = function(thread) thread:set("id", thread_id); thread_id = thread_id + 1 end
init = function(args) base = tonumber(args[1]) end
request = function()
  counter = counter + 1
  -- A new reading every time (2 threads): a new second for each of {devices} meters in turn.
  local n = counter * 2 + id
  local meter = n % {devices}
  local t = base + math.floor(n / {devices})
  local body = string.format(
    '{{"meterId":"W%05d","kwhConsumedAc":0.4796,"voltage":232.1,"timestamp":"%s"}}',
    meter, os.date("!%Y-%m-%dT%H:%M:%SZ", t))
  return wrk.format("POST", "/v1/ingest", {{["Content-Type"]="application/json",
    ["Authorization"]="Bearer {token}"}}, body)
end
"""

_WRK_GET = """
math.randomseed(os.time())
request = function()
  local path = string.format("{path}", math.random(0, {vehicles} - 1))
  return wrk.format("GET", path, {{["Authorization"]="Bearer {token}"}})
end
-- Milliseconds each connection waits after an answer before its next request (0: none).
delay = function() return {pause_ms} end
"""


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: str


def wrk(
    url: str,
    script: str,
    seconds: int,
    connections: int,
    work_dir: Path,
    args: list[str],
    cpus: list[int] | None = None,
) -> WrkResult:
    path = work_dir / "wrk.lua"
    path.write_text(script)
    argv = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    argv += ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv += ["-s", str(path)] if script else []
    out = subprocess.run([*argv, url, "--", *args], capture_output=True, text=True, check=True)
    report = out.stdout
    errors = [line.strip() for line in report.splitlines() if "Non-2xx" in line or "errors" in line]
    return WrkResult(
        requests_per_s=float(_find(r"Requests/sec:\s+([\d.]+)", report)),
        p50_ms=_wrk_ms(_find(r"50%\s+([\d.]+\w+)", report)),
        p99_ms=_wrk_ms(_find(r"99%\s+([\d.]+\w+)", report)),
        errors=" ".join(errors),
    )


def _find(pattern: str, report: str) -> str:
    match = re.search(pattern, report)
    if match is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{report}")
    return match[1]


def wrk_ingest(
    url: str,
    token: str,
    seconds: int,
    connections: int,
    work_dir: Path,
    devices: int,
    cpus: list[int] | None = None,
) -> WrkResult:
    script = _WRK_POST.format(devices=devices, token=token)
    start = int(time.time()) - 24 * 3600  # a day ago: every second after it is in the past
    return wrk(url, script, seconds, connections, work_dir, [str(start)], cpus)


def wrk_reads(
    url: str,
    token: str,
    seconds: int,
    connections: int,
    work_dir: Path,
    vehicles: int,
    pause_ms: int = 0,
    path: str = "/v1/analytics/performance/V%05d",
) -> WrkResult:
    """Random vehicles' 24 h figures (or `path`, its %05d a random number under `vehicles`);
    with pause_ms, each connection pauses that long after each answer: a steady rate below what
    the server can do, where latency is the service's and not a queue's (16 connections, 6 ms:
    about 2,100 a second)."""
    script = _WRK_GET.format(vehicles=vehicles, token=token, pause_ms=pause_ms, path=path)
    return wrk(url, script, seconds, connections, work_dir, [])


def _wrk_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

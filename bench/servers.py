"""`python -m bench --servers`: the same Flask app under each candidate server, side by side in one
run, twice each and alternating: single-record ingest (wrk, 16 connections), analytics reads, and
the `/healthz` floor. With the stream's worker running, as in production.

- gunicorn sync: WEB_CONCURRENCY processes, a connection per request.
- gunicorn gthread: the same processes with 4 threads each, keep-alive.
- Granian WSGI, one thread a worker: how web/serving/serve.py ran Granian until slow clients
  could stop it (its WSGI threads wait on clients), kept as the "before" of that change; and
  with four threads a worker, the other way to let a few slow clients not stop it.
- Granian (the Procfile's, web/serving/serve.py): WEB_CONCURRENCY workers, the app behind
  web/serving/rsgi.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import data, load
from bench.report import keep_table
from bench.stack import ANALYST_TOKEN, DEVICE_TOKEN, Service
from tools.local import free_port

WEB_PROCESSES = 2


GUNICORN = ["gunicorn", "--config", "web/serving/gunicorn_conf.py", "web:create_app()"]


def granian_wsgi(threads: int) -> list[str]:
    return [
        "granian", "--interface", "wsgi", "--workers", str(WEB_PROCESSES), "--blocking-threads",
        str(threads), "--no-ws", "--log-level", "warning", "--port", "{port}",
        "web.serving.wsgi:app",
    ]  # fmt: skip


def candidates() -> dict[str, tuple[dict[str, Any], list[str] | None]]:
    """name: (environment, web command; None for the Procfile's, which is Granian)."""
    return {
        "gunicorn sync": ({"WEB_CONCURRENCY": WEB_PROCESSES}, GUNICORN),
        "gunicorn gthread x4": ({"WEB_CONCURRENCY": WEB_PROCESSES, "WEB_THREADS": 4}, GUNICORN),
        "granian WSGI x1 (before)": ({"WEB_CONCURRENCY": WEB_PROCESSES}, granian_wsgi(1)),
        "granian WSGI x4": ({"WEB_CONCURRENCY": WEB_PROCESSES}, granian_wsgi(4)),
        "granian (Procfile)": ({"WEB_CONCURRENCY": WEB_PROCESSES}, None),
    }


def measure(service: Service, name: str, seconds: int, vehicles: int, rnd: int) -> dict[str, Any]:
    env, web = candidates()[name]
    port = free_port()
    env = {**env, "PORT": port}
    web = [arg.format(port=port) for arg in web] if web else None
    service.reset()
    with service.engine().begin() as conn:
        conn.execute(text(data.PERFORMANCE_ROWS), {"n": vehicles})
        conn.execute(text(data.PERFORMANCE_WINDOW))
    key = f"servers-{name.replace(' ', '-')}-{rnd}"
    with service.running(key, web=web, **env) as stack:
        single = load.wrk_ingest(stack.url, DEVICE_TOKEN, seconds, 16, service.work_dir, vehicles)
        reads = load.wrk_reads(stack.url, ANALYST_TOKEN, seconds, 16, service.work_dir, vehicles)
        floor = load.wrk(stack.url + "/healthz", "", max(2, seconds // 2), 16, service.work_dir, [])
        service.wait_drained()
    return {
        "server": name,
        "round": rnd,
        "single": vars(single),
        "reads": vars(reads),
        "healthz": vars(floor),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| server | round | single ingest req/s | p99 ms | reads req/s | p99 ms | /healthz req/s "
        "| ingest / floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, rd, f = r["single"], r["reads"], r["healthz"]
        lines.append(
            f"| {r['server']} | {r['round']} | {s['requests_per_s']:,.0f} | {s['p99_ms']:.1f} "
            f"| {rd['requests_per_s']:,.0f} | {rd['p99_ms']:.1f} | {f['requests_per_s']:,.0f} "
            f"| {s['requests_per_s'] / f['requests_per_s']:.2f} |"
        )
    return "\n".join(lines)


def run(service: Service, seconds: int, vehicles: int, out_dir: Path, command: str) -> list[dict]:
    rows = []
    for rnd in (1, 2):
        for name in candidates():
            print(f"servers: {name}, round {rnd}", flush=True)
            rows.append(measure(service, name, seconds, vehicles, rnd))
    keep_table("servers", command, table(rows), rows, out_dir)
    return rows

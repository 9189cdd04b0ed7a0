"""Where the time goes: py-spy samples of a web worker and of a stream consumer under the
bench's loads, summed into the parts of a request (`make bench-profile`).

    python -m bench.profile [--seconds 12]

Shares of samples, inclusive (a frame counts for every group on its stack, so shares overlap).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import data, load
from bench.stack import ANALYST_TOKEN, DEVICE_TOKEN, Service
from tools.local import servers

WEB = {
    # A leading "!" excludes: samples in the server's own Python code, not in the Flask app it
    # calls (Granian's HTTP work is Rust, which py-spy does not sample without --native).
    "the server outside Flask (parse, write, close the connection)": [
        "gunicorn/",
        "granian/",
        "!full_dispatch_request (flask/app.py",
    ],
    "Flask view (auth, validation, the call out)": ["full_dispatch_request (flask/app.py"],
    "marshmallow validation": ["marshmallow/"],
    "waiting on Redis (the XADD script)": ["redis/"],
    "waiting on PostgreSQL (one-row read)": ["psycopg2", "do_execute (sqlalchemy"],
    "the request log line": ["requests_log.py", "logging/__init__.py"],
    "caching headers (ETag)": ["web/contract/caching.py"],
}
CONSUMER = {
    "building the COPY text": ["readings/writer.py"],
    "waiting on PostgreSQL (COPY, INSERT, COMMIT)": ["psycopg2", "do_execute (sqlalchemy"],
    "Redis: read, acknowledge": ["redis/"],
    "decoding stream entries": ["decode (readings/records.py"],
}


def _children(pid: int) -> list[int]:
    ps = ["ps", "-o", "pid=", "--ppid", str(pid)]
    return [int(p) for p in subprocess.run(ps, capture_output=True, text=True).stdout.split()]


def _record(pid: int, seconds: int, path: Path) -> None:
    spy = Path(sys.executable).parent / "py-spy"
    argv = [str(spy), "record", "-d", str(seconds), "-r", "200", "--format", "raw"]
    subprocess.run([*argv, "-o", str(path), "-p", str(pid), "--nonblocking"], capture_output=True)


def _summary(path: Path, title: str, groups: dict[str, list[str]]) -> None:
    shares: collections.Counter[str] = collections.Counter()
    total = 0
    # Lines split on "\n" only: frame names from a native server's threads may hold characters
    # that str.splitlines also breaks on.
    for line in path.read_text(errors="replace").split("\n"):
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        total += int(samples)
        for name, needles in groups.items():
            wanted = [n for n in needles if not n.startswith("!")]
            unwanted = [n[1:] for n in needles if n.startswith("!")]
            if any(n in stack for n in wanted) and not any(n in stack for n in unwanted):
                shares[name] += int(samples)
    print(f"\n{title} ({total} samples)")
    for name, share in shares.most_common():
        print(f"  {100 * share / max(total, 1):5.1f}%  {name}")


def _under_load(pid: int, seconds: int, path: Path, drive: Callable[[], Any]) -> None:
    loader = threading.Thread(target=drive)
    loader.start()
    time.sleep(3)  # past start-up
    _record(pid, seconds, path)
    loader.join()


def _single(url: str, seconds: int, work: Path) -> None:
    load.wrk_ingest(url, DEVICE_TOKEN, seconds, 16, work, 10_000)


def _reads(url: str, seconds: int, work: Path) -> None:
    load.wrk_reads(url, ANALYST_TOKEN, seconds, 16, work, 10_000)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--seconds", type=int, default=12)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ev-profile-"))
    run = args.seconds + 6
    env = {k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(work / "servers")
    with servers(env) as server_env:
        service = Service.create(server_env, work)
        service.reset()
        with service.running("single") as stack:
            web = _children(stack.processes["web"].pid)[0]
            url = stack.url
            _under_load(web, args.seconds, work / "single.txt", lambda: _single(url, run, work))
        _summary(work / "single.txt", "a web worker, single-record ingest", WEB)

        service.reset()
        with service.engine().begin() as conn:
            conn.execute(text(data.PERFORMANCE_ROWS), {"n": 10_000})
            conn.execute(text(data.PERFORMANCE_WINDOW))
        with service.running("reads") as stack:
            web = _children(stack.processes["web"].pid)[0]
            url = stack.url
            _under_load(web, args.seconds, work / "reads.txt", lambda: _reads(url, run, work))
        _summary(work / "reads.txt", "a web worker, analytics reads", WEB)

        bodies = data.bodies(data.fleet_minutes(2_000, 60), 500)
        service.reset()
        with service.running("batched", WORKER_CONCURRENCY=1) as stack:
            web = _children(stack.processes["web"].pid)[0]
            consumer = _children(stack.processes["worker"].pid)[0]
            spy = threading.Thread(target=_record, args=(web, args.seconds, work / "web.txt"))
            url = stack.url
            spy.start()
            _under_load(
                consumer,
                args.seconds,
                work / "consumer.txt",
                lambda: load.post_bodies(url, DEVICE_TOKEN, bodies, 4, run),
            )
            spy.join()
        _summary(work / "web.txt", "a web worker, batched ingest (arrays of 500)", WEB)
        _summary(work / "consumer.txt", "the stream consumer, batched ingest", CONSUMER)
    print(f"\nraw profiles (py-spy raw format): {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

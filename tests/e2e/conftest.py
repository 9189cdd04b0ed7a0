"""Real processes for end-to-end tests: gunicorn, celery worker and beat, as in the Procfile."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3

from tests.conftest import ANALYST_TOKEN, DEVICE_TOKEN, ROOT
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

COMMANDS = {
    "web": [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "web/gunicorn_conf.py",
        "web:create_app()",
    ],
    "worker": [sys.executable, "-m", "celery", "-A", "workers", "worker", "--loglevel", "INFO"],
    "beat": [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "INFO"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    http: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(retries=False))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [*COMMANDS[name], *extra],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self.processes[name] = process
        if name == "web":
            wait_until(lambda: self.ready(), what="gunicorn to answer /readyz")
        return process

    def ready(self) -> bool:
        try:
            return self.get("/readyz").status == 200
        except urllib3.exceptions.HTTPError:
            return False

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode

    def post(self, body: Any, token: str = DEVICE_TOKEN) -> urllib3.BaseHTTPResponse:
        return self.http.request(
            "POST",
            self.url + "/v1/ingest",
            body=orjson.dumps(body),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )

    def get(self, path: str, token: str = ANALYST_TOKEN) -> urllib3.BaseHTTPResponse:
        return self.http.request(
            "GET", self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def flask(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "web", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


@pytest.fixture
def service_env(base_settings, server_env, tmp_path) -> dict[str, str]:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": base_settings.database_url,
        "REDIS_URL": server_env["REDIS_URL"],
        "REDIS_KEY_PREFIX": prefix,
        "CELERY_QUEUE": prefix,
        "DEVICE_TOKENS": DEVICE_TOKEN,
        "ANALYST_TOKENS": ANALYST_TOKEN,
        "RETENTION_DAYS": "3650",
        "PORT": str(free_port()),
        "DATA_DIR": str(tmp_path / "data"),
        "BATCH_WAIT_MS": "50",
        "WORKER_CONCURRENCY": "2",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def service(service_env, clean_db, redis_client, tmp_path) -> Iterator[Service]:
    logs = Path(os.environ.get("E2E_LOG_DIR", tmp_path / "logs"))
    logs.mkdir(parents=True, exist_ok=True)
    svc = Service(env=service_env, logs=logs)
    yield svc
    for name in list(svc.processes):
        svc.stop(name, timeout=15)
    prefix = service_env["REDIS_KEY_PREFIX"]
    keys = list(redis_client.scan_iter(match=f"*{prefix}*"))
    if keys:
        redis_client.delete(*keys)

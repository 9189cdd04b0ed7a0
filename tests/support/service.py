"""The service as real processes (web, celery worker and beat, as in the Procfile), for the
end-to-end and fault tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3

from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN, ROOT
from tools.local import free_port
from tools.stack import Stack


class Service(Stack):
    """The stack, plus the calls a device, an analyst and an operator make."""

    http = urllib3.PoolManager(retries=False)

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

    def flask(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """`flask --app web ARGS`; it must succeed, unless ok=False (the caller looks)."""
        return self._command("flask", "--app", "web", *args, check=ok)

    def simulator(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._command("simulator", *args)

    def celery(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """`celery -A workers ARGS`; it must succeed, unless ok=False (the caller looks)."""
        return self._command("celery", "-A", "workers", *args, check=ok)

    def _command(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """An operator's command with the service's environment; it must succeed, if `check`."""
        return subprocess.run(
            [sys.executable, "-m", *argv],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )


@pytest.fixture
def service_env(base_settings, server_env, tmp_path) -> dict[str, str]:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    return {
        **os.environ,
        "DATABASE_URL": base_settings.database_url,
        "REDIS_URL": server_env["REDIS_URL"],
        "REDIS_KEY_PREFIX": prefix,
        "CELERY_QUEUE": prefix,
        "DEVICE_TOKENS": DEVICE_TOKEN,
        "ANALYST_TOKENS": ANALYST_TOKEN,
        "RETENTION_DAYS": "3650",
        "PARTITION_DAYS_BACK": "7",  # as the suite's settings (tests/conftest.py)
        "PORT": str(free_port()),
        "DATA_DIR": str(tmp_path / "data"),
        # The test's own: metrics of other tests (or of `make run`) must not add to its figures.
        "METRICS_DIR": str(tmp_path / "metrics"),
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
    svc.stop_all()
    # Whatever the test did, no process wrote a token to its log.
    for log in logs.glob("*.log"):
        text = log.read_text(errors="replace")
        for token in (DEVICE_TOKEN, ANALYST_TOKEN):
            assert token not in text, f"{log.name} contains a token"
    prefix = service_env["REDIS_KEY_PREFIX"]
    keys = list(redis_client.scan_iter(match=f"*{prefix}*"))
    if keys:
        redis_client.delete(*keys)

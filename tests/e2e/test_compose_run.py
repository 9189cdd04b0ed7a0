"""docker-compose.yml's services, run as far as this machine can without a Docker engine.

Each app service's command runs from the image's files and packages only (what the Dockerfile
copies, in a virtualenv of requirements.txt alone: tests/support/compose.build_image), as an
unprivileged user, with the image's ENV and the service's environment from the compose file, in
a mount namespace of its own where /srv (the image's directories) is a fresh tmpfs, made as the
Dockerfile makes it, with the service's tmpfs mounts on it. Only what cannot be the same here is
changed: PostgreSQL's and Redis's addresses (compose's service names), the port and the bind
address (loopback), and the Redis key prefix (so the test has keys of its own).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
import urllib3
from sqlalchemy import make_url

from tests.support.compose import build_image, compose, dockerfile
from tests.support.constants import ROOT
from tests.support.factories import meter, vehicle
from tests.support.helpers import stored_readings, wait_until
from tools.local import free_port

UNPRIVILEGED = 65534  # nobody: the image's own user does not exist on this machine
DEVICE, ANALYST = "compose-device-token", "compose-analyst-token"
HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=10))


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2] or "", match[3] or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[Path, Path]]:
    # Under the repo (not /tmp/pytest-of-root): the unprivileged user must reach it.
    directory = ROOT / ".data" / f"image-{uuid.uuid4().hex[:8]}"
    try:
        yield build_image(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Containers:
    def __init__(
        self, overrides: dict[str, str], image: tuple[Path, Path], volumes: Path, logs: Path
    ) -> None:
        self.overrides, self.volumes, self.logs = overrides, volumes, logs
        self.app, self.bin = image
        self.image_env, self.user, _ = dockerfile()
        self.services = compose()["services"]
        self.metrics_port = int(overrides["METRICS_PORT"])
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, name: str) -> dict[str, str]:
        given = {"DEVICE_TOKENS": DEVICE, "ANALYST_TOKENS": ANALYST}
        declared = self.services[name].get("environment", {})
        env = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/srv/ev",
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.image_env,
            **{k: _interpolate(str(v), given) for k, v in declared.items()},
            **self.overrides,
        }
        return env

    def argv(self, name: str) -> list[str]:
        """The command inside: /srv as the image has it, the service's volumes mounted on it."""
        mounts = [f"mount --bind {self.volumes / v.split(':')[0]} {v.split(':')[1]}"
                  for v in self.services[name].get("volumes", [])]  # fmt: skip
        for entry in self.services[name].get("tmpfs", []):
            path, _, options = entry.partition(":")
            # Docker's tmpfs takes the image user's uid; here that user is `nobody`.
            options = re.sub(r"\b([ug]id)=\d+", rf"\1={UNPRIVILEGED}", options)
            mounts.append(f"mount -t tmpfs -o {options or 'defaults'} tmpfs {path}")
        made = " ".join(shlex.quote(self.image_env[k]) for k in ("DATA_DIR", "METRICS_DIR"))
        setup = " && ".join(
            [
                "mount -t tmpfs -o mode=755 tmpfs /srv",
                *_interpreter_reachable(),
                f"install -d -o {UNPRIVILEGED} -g {UNPRIVILEGED} {made}",
                *mounts,
                f"exec setpriv --reuid={UNPRIVILEGED} --regid={UNPRIVILEGED} --clear-groups "
                '-- "$@"',
            ]
        )
        command = shlex.split(self.services[name]["command"])
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, "sh", *command]

    def start(self, name: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                self.argv(name),
                cwd=self.app,
                env=self.env(name),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def run(self, name: str) -> int:
        return self.start(name).wait(120)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def containers(
    base_settings, server_env, tmp_path, clean_db, redis_client, request
) -> Iterator[Containers]:
    if os.geteuid() != 0:
        pytest.skip("mount namespaces and another user need root (CI runs as root)")
    if str(make_url(base_settings.database_url).query.get("host", "")).startswith("/"):
        pytest.skip("the embedded PostgreSQL listens on a socket only its own user reaches")
    prefix = f"compose-{uuid.uuid4().hex[:8]}"
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    box = Containers(
        {
            "DATABASE_URL": base_settings.database_url,
            "REDIS_URL": server_env["REDIS_URL"],
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            "REDIS_KEY_PREFIX": prefix,
            "CELERY_QUEUE": prefix,
            "REFRESH_SECONDS": "2",
            "WORKER_CONCURRENCY": "1",
            # Compose's 9100 would be every container's here, on one loopback.
            "METRICS_PORT": str(free_port()),
        },
        request.getfixturevalue("image"),  # once the skips above are passed: it takes a while
        volumes,
        logs,
    )
    yield box
    box.stop_all()
    keys = list(redis_client.scan_iter(match=f"*{prefix}*"))
    if keys:
        redis_client.delete(*keys)


def _interpreter_reachable() -> list[str]:
    """In the image Python is world-readable; here it may sit under a private home (/root/.pyenv):
    cover the private directory with an empty one and bring back only the interpreter's tree."""
    real = Path(os.path.realpath(sys.executable))
    for parent in reversed(real.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            keep = real.parents[len(real.parents) - len(parent.parts) - 1]
            hidden = "/srv/.interpreter"  # on the fresh tmpfs: nothing left behind
            return [
                f"mkdir -p {hidden}",
                f"mount --bind {keep} {hidden}",
                f"mount -t tmpfs -o mode=755 tmpfs {parent}",
                f"mkdir -p {keep}",
                f"mount --bind {hidden} {keep}",
            ]
    return []


def _get(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return HTTP.request("GET", url, headers=headers)


def test_every_app_service_runs_unprivileged_with_its_compose_environment(containers, clean_db):
    assert containers.run("migrate") == 0, containers.log("migrate")
    web = containers.start("web")
    url = f"http://127.0.0.1:{containers.overrides['PORT']}"

    def ready() -> bool:
        try:
            return bool(_get(url + "/readyz").status == 200)
        except urllib3.exceptions.HTTPError:
            return False

    wait_until(ready, 60, "web to answer /readyz")
    worker, beat = containers.start("worker"), containers.start("beat")
    for process in (web, worker, beat):  # once the set-up has exec'd the service's command
        user = psutil.Process(process.pid).uids
        wait_until(lambda: user().real == UNPRIVILEGED, 30, "the command, unprivileged")  # noqa: B023

    when = datetime.now(UTC).replace(second=10, microsecond=0) - timedelta(minutes=2)
    body = [meter("CM1", when), vehicle("CV1", "CM1", when + timedelta(seconds=5))]
    reply = HTTP.request(
        "POST",
        url + "/v1/ingest",
        body=orjson.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {DEVICE}"},
    )
    assert reply.status == 202, reply.data
    wait_until(lambda: stored_readings(clean_db) == 2, 60, "the worker to store the readings")
    wait_until(
        lambda: _get(url + "/v1/analytics/performance/CV1", ANALYST).status == 200,
        90,
        "beat's refresh to serve the vehicle",
    )

    # Each container serves its own samples: the worker's batches on its METRICS_PORT, not web's.
    def batches(at: str) -> float:
        scraped = _get(at + "/metrics").data.decode()
        counts = [
            line for line in scraped.splitlines() if line.startswith("ev_batch_readings_count")
        ]
        return sum(float(line.split()[-1]) for line in counts)

    assert batches(f"http://127.0.0.1:{containers.metrics_port}") >= 1
    assert batches(url) == 0
    for name in ("web", "worker", "beat"):
        assert "refuses to start" not in containers.log(name)


def test_a_metrics_directory_the_user_cannot_write_is_refused_clearly(containers):
    containers.overrides["METRICS_DIR"] = "/srv/elsewhere"  # where the image made nothing
    for name in ("web", "worker", "beat"):
        assert containers.start(name).wait(60) != 0, name
        assert (
            f"ev {name} refuses to start: METRICS_DIR=/srv/elsewhere cannot be created "
            "(Permission denied)"
        ) in containers.log(name)

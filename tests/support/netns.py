"""Hosts for a test: Linux network namespaces, each with its own hostname (a UTS namespace), a
veth pair to this one, and the service's processes; PostgreSQL and Redis reached over the veth
pairs through a relay (socat) on this side. Only addresses assigned here are ever dialled:
10.231.<n>.1 (this side) and 10.231.<n>.2 (the host)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import make_url

from tests.support.service import Service


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def can_make_hosts() -> str | None:
    """Why this machine cannot play several hosts, or None."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    for tool in ("ip", "unshare", "socat"):
        if not shutil.which(tool):
            return f"needs {tool} (make system-tools installs it)"
    return None


class Host:
    """One namespace: `ev<tag>h<n>` with its veth pair and its relays to the servers."""

    def __init__(self, n: int, tag: str, env: dict[str, str], logs: Path, servers: dict[str, str]):
        self.name, self.n = f"ev{tag}h{n}", n
        self.hostname = f"h{n}"
        self.outside, self.inside = f"10.231.{n}.1", f"10.231.{n}.2"
        ip("netns", "add", self.name)
        ip("link", "add", f"{self.name}a", "type", "veth", "peer", "name", f"{self.name}b")
        ip("link", "set", f"{self.name}b", "netns", self.name)
        ip("addr", "add", f"{self.outside}/24", "dev", f"{self.name}a")
        ip("link", "set", f"{self.name}a", "up")
        inside = ["netns", "exec", self.name, "ip"]
        ip(*inside, "addr", "add", f"{self.inside}/24", "dev", f"{self.name}b")
        ip(*inside, "link", "set", f"{self.name}b", "up")
        ip(*inside, "link", "set", "lo", "up")
        self.relays = [
            subprocess.Popen(
                ["socat", f"TCP-LISTEN:{port},bind={self.outside},reuseaddr,fork", target],
                stderr=subprocess.DEVNULL,
            )
            for port, target in servers.items()
        ]
        self.service = Service(
            env={**env, "HOST": self.inside, "HOSTNAME": self.hostname},
            logs=logs / self.hostname,
            address=self.inside,
            # Its own network and hostname: Celery's node names (celery@h1) and consumer names
            # (celery@h1#0) and the metrics files' names come from it.
            wrap=[
                "ip", "netns", "exec", self.name,
                "unshare", "--uts", "sh", "-c", f'hostname {self.hostname} && exec "$@"', "sh",
            ],
        )  # fmt: skip

    def kill(self) -> int:
        """SIGKILL every process in the namespace at once, as a host's power cut would."""
        pids = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True, check=True
        ).stdout.split()
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        for key in list(self.service.processes):
            self.service.processes.pop(key).wait(30)
        return len(pids)

    def remove(self) -> None:
        self.service.stop_all()
        for relay in self.relays:
            relay.kill()
            relay.wait(10)
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", f"{self.name}a"], capture_output=True, check=False)


def server_targets(database_url: str, redis_url: str) -> tuple[dict[str, str], str, str]:
    """Relay targets for the test's servers, and the URLs a host uses to reach them."""
    db = make_url(database_url)
    socket_dir = db.query.get("host")
    port = db.port or 5432
    if socket_dir:
        pg_target = f"UNIX-CONNECT:{socket_dir}/.s.PGSQL.{port}"
    else:
        pg_target = f"TCP:{db.host or '127.0.0.1'}:{port}"
    redis = urlsplit(redis_url)
    redis_target = f"TCP:{redis.hostname or '127.0.0.1'}:{redis.port or 6379}"
    targets = {"5432": pg_target, "6379": redis_target}
    host_db = db.set(host="OUTSIDE", port=5432, query={})
    host_redis = f"redis://OUTSIDE:6379/{redis.path.strip('/') or 0}"
    return targets, host_db.render_as_string(hide_password=False), host_redis


@pytest.fixture
def hosts(service_env: dict[str, str], tmp_path: Path, clean_db: Any) -> Any:
    # clean_db as a dependency: the hosts' processes stop before its tables are emptied (a
    # worker still writing would deadlock with the TRUNCATE, and leave rows to the next test).
    reason = can_make_hosts()
    if reason:
        pytest.skip(reason)
    made: list[Host] = []
    tag = uuid.uuid4().hex[:4]
    targets, db_url, redis_url = server_targets(
        service_env["DATABASE_URL"], service_env["REDIS_URL"]
    )

    def make(n: int, **env: str) -> Host:
        host_env = {
            **service_env,
            **env,
            "PORT": "8000",
            "DATA_DIR": str(tmp_path / f"h{n}" / "data"),
            "METRICS_DIR": str(tmp_path / f"h{n}" / "metrics"),
        }
        host = Host(n, tag, host_env, tmp_path / "logs", targets)
        host.service.env["DATABASE_URL"] = db_url.replace("OUTSIDE", host.outside)
        host.service.env["REDIS_URL"] = redis_url.replace("OUTSIDE", host.outside)
        made.append(host)
        return host

    yield make
    for host in made:
        host.remove()

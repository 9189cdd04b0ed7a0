"""A Redis primary, its replica and three Sentinels on loopback ports, all the test's own: to kill
the primary and watch the Sentinels promote the replica."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.private_servers import PrivateRedis, redis_binary
from tools.local import free_port, wait_for_port

MASTER = "evmaster"


class Link:
    """The network between the replica and the primary, as a TCP hop the test can stall (what
    it carries waits, as over a congested or far link) and cut (what waited is gone)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.server.accept()
            except OSError:
                return
            try:
                far = socket.create_connection(("127.0.0.1", self.target_port), 2)
            except OSError:
                near.close()
                continue
            self.sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.close()

    def stall(self) -> None:
        self.flowing.clear()

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()
        self.sockets.clear()
        self.flowing.set()

    def close(self) -> None:
        self.server.close()
        self.cut()


class Sentinel:
    def __init__(self, directory: Path, master_port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = directory / "sentinel.conf"
        # Quick to decide: a primary silent for a second is down, and two of three must agree.
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"logfile {directory / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        self.process = subprocess.Popen(
            [redis_binary(), str(config), "--sentinel"], stdin=subprocess.DEVNULL
        )
        wait_for_port(self.port, self.process)

    def master_port(self) -> int:
        reply = redis.Redis(port=self.port, socket_timeout=2).sentinel_get_master_addr_by_name(
            MASTER
        )
        assert isinstance(reply, tuple), reply
        return int(reply[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class SentinelledRedis:
    """A primary, one replica (replicating over a Link) and three Sentinels watching them."""

    def __init__(self, directory: Path) -> None:
        self.primary = PrivateRedis(directory / "primary", persistent=False)
        self.primary.start()
        self.link = Link(self.primary.port)
        self.replica = PrivateRedis(
            directory / "replica", "--replicaof", "127.0.0.1", str(self.link.port), persistent=False
        )
        self.replica.start()
        self._wait_in_sync()
        self.sentinels = [Sentinel(directory / f"sentinel{i}", self.primary.port) for i in range(3)]
        deadline = time.monotonic() + 30
        # Each Sentinel has found the replica and the other two before anything is killed.
        while not all(self._sees_everyone(s) for s in self.sentinels):
            assert time.monotonic() < deadline, "the Sentinels did not find each other"
            time.sleep(0.2)

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def master_port(self) -> int:
        return self.sentinels[0].master_port()

    def lag_replica_for(self, seconds: float) -> None:
        """Let the replica fall `seconds` behind, and return only once it was behind through
        the Link the whole time: a Sentinel that points it straight at the primary meanwhile
        (a slow run) would have let it catch up, so the lag starts over."""
        while True:
            self.lag_replica()
            time.sleep(seconds)
            if self._through_link():
                return
            self.link.flowing.set()

    def _through_link(self) -> bool:
        state = self.replica.client().info("replication")
        return int(state.get("master_port", 0)) == self.link.port

    def lag_replica(self) -> None:
        """From now on the replica falls behind: what the primary sends it waits in the Link.

        Sentinel rewrites a replica that follows another address than the primary's
        (+fix-slave-config) once failover-timeout has passed since it noticed, which would take
        the Link out of the path on a slow run; pointing the replica back at the Link restarts
        that clock, and the primary is killed well inside it."""
        self._wait_in_sync(repoint=True)
        self.link.stall()

    def _wait_in_sync(self, repoint: bool = False) -> None:
        """Until the replica is in sync through the Link. With repoint, a replica a Sentinel
        has pointed straight at the primary (which it may do again while the replica syncs, on
        a slow run) is pointed back at the Link each time."""
        replica = self.replica.client()
        deadline = time.monotonic() + 60
        while True:
            state = replica.info("replication")
            through_link = int(state.get("master_port", 0)) == self.link.port
            if through_link and state.get("master_link_status") == "up":
                return
            if repoint and not through_link:
                replica.replicaof("127.0.0.1", str(self.link.port))
            assert time.monotonic() < deadline, f"no sync through the Link: {state}"
            time.sleep(0.1)

    def _sees_everyone(self, sentinel: Sentinel) -> bool:
        info = redis.Redis(port=sentinel.port, socket_timeout=2).sentinel_master(MASTER)
        assert isinstance(info, dict), info
        return int(info["num-slaves"]) >= 1 and int(info["num-other-sentinels"]) >= 2

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.primary.kill()
        self.replica.kill()
        self.link.close()


@pytest.fixture
def sentinelled_redis(tmp_path: Path) -> Iterator[SentinelledRedis]:
    servers = SentinelledRedis(tmp_path / "redis")
    yield servers
    servers.stop()

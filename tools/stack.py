"""The Procfile's processes, started and stopped from Python: for end-to-end tests and the bench."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name: shlex.split(command)
        for name, _, command in (line.partition(": ") for line in lines if line.strip())
    }


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Stack:
    """Processes of the Procfile run with `env`, each logging to logs/<name>.log."""

    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Where web answers, and a command each process runs under (another host's namespace).
    address: str = "127.0.0.1"
    wrap: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        venv_bin = str(Path(sys.executable).parent)
        self.env = {**self.env, "PATH": f"{venv_bin}{os.pathsep}{self.env.get('PATH', '')}"}
        self.logs.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.env['PORT']}"

    def start(
        self, name: str, *extra: str, key: str | None = None, command: list[str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start the Procfile's `name` process (under `key`, to run several of one kind), or
        `command` in its place (another web server, say)."""
        key = key or name
        with (self.logs / f"{key}.log").open("ab") as log:
            process = subprocess.Popen(
                [*self.wrap, *(command or procfile()[name]), *extra],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.processes[key] = process
        if name == "web":
            wait_until(self.ready, what="web to answer /readyz")
        return process

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as reply:  # noqa: S310
                return bool(reply.status == 200)
        except OSError:
            return False

    def stop(self, key: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process's whole group and wait for all of it: a leader (honcho, Granian's
        main process) may exit before the children it signalled, which would otherwise go on
        writing after the caller has moved on (emptied the tables, say)."""
        process = self.processes.pop(key)
        deadline = time.monotonic() + timeout
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        while _group_alive(process.pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.05)
        return process.returncode

    def stop_all(self) -> None:
        for key in list(self.processes):
            self.stop(key, timeout=15)

    def log(self, key: str) -> str:
        return (self.logs / f"{key}.log").read_text(errors="replace")


def _group_alive(group: int) -> bool:
    """Whether any process of the process group is left (zombies aside: they write nothing)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member that changed its user, still running
        return True
    return any(_in_group(pid, group) for pid in _pids())


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _in_group(pid: int, group: int) -> bool:
    """A live (not zombie) process of the group, from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    state, pgrp = fields[0], int(fields[2])
    return pgrp == group and state != "Z"

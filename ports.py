"""Whether a port a process is about to listen on is free, and if not, which process holds it.

The web server shares its port between its own workers (SO_REUSEPORT), which would also let a
second service start on it silently and take half of the first one's requests; `make run`, web
and ocpp therefore refuse to start on a port anything listens on, naming the holder when this
host lets us see it (Linux: /proc).
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path


class PortTaken(Exception):
    """The port is in use; the message says by whom, when that can be seen."""


def require_free(host: str, port: int, what: str) -> None:
    """Raise PortTaken unless a plain listener could bind host:port now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As servers bind: a port whose last listener is gone, its connections lingering in
        # TIME_WAIT (a server just restarted), is free; one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return  # not ours to judge (an address not on this host, say): the server says
            holder = holder_of(port)
            held = f" by {holder}" if holder else ""
            raise PortTaken(
                f"{what} port {port} on {host} is already in use{held}: stop it, or give this "
                "one another port"
            ) from None


def holder_of(port: int) -> str | None:
    """`pid N (command line)` of a process listening on the TCP port, if /proc shows one."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return f"pid {pid} ({_command(pid)})"
        except OSError:  # gone, or not ours to look at
            continue
    return "another process"


def _listening_inodes(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                found.add(inode)
    return found


def _command(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120] or "?"

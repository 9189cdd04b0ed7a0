"""An operator command that cannot reach its database says so in one line, with what to set,
and exits non-zero: PostgreSQL away, or a database that is not the service's (the embedded one
of `make run` is reached with `make flask ARGS=...`)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

from settings import sqlalchemy_url
from tests.support.constants import ROOT
from tools.local import free_port


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "web", *args],
        cwd=ROOT,
        env={**os.environ, "DEVICE_TOKENS": "d", "ANALYST_TOKENS": "a", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_postgres_out_of_reach_is_one_line_saying_what_to_set(server_env):
    down = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/ev"
    line = _one_line(flask({**server_env, "DATABASE_URL": down}, "devices", "list"))
    assert "PostgreSQL is not reachable at postgresql://postgres:***@127.0.0.1" in line
    assert "secret" not in line
    assert "Set DATABASE_URL" in line
    assert 'make flask ARGS="..."' in line


@pytest.fixture
def empty_database(server_env):
    server = make_url(sqlalchemy_url(server_env["DATABASE_URL"]))
    name = f"ev_empty_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_a_database_that_is_not_the_services_is_one_line(server_env, empty_database):
    line = _one_line(flask({**server_env, "DATABASE_URL": empty_database}, "devices", "list"))
    assert "has none of the service's tables" in line
    assert "make migrate" in line

"""Shared fixtures: real PostgreSQL and Redis, isolated per test session and per test.

The servers are DATABASE_URL / REDIS_URL when set (CI sets the machine's), else embedded ones
started once per run, before pytest-xdist starts its workers (which inherit their URLs). Each
session (each xdist worker) gets a database of its own on that server, cloned from a migrated
template, and drops it after; each test gets Redis keys under a prefix of its own, so nothing a
user keeps there is touched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

# Before anything imports metrics: this test run's in-process samples go to a directory of its
# own, not to the .data/metrics that `make run` reads.
os.environ["METRICS_DIR"] = tempfile.mkdtemp(prefix="ev-test-metrics-")

import hypothesis
import pytest
import redis
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, text

from buffer.stream import IngestStream
from models.schema import ALL_TABLES
from settings import Settings, sqlalchemy_url
from storage.db import make_engine
from storage.redis_client import connect
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN, ROOT
from tests.support.migrated import alembic_config, new_database
from tests.support.private_servers import private_postgres, private_redis
from tests.support.suite import MARKERS, make_scheduler
from tools.local import servers
from web import create_app

__all__ = ["private_postgres", "private_redis"]

# The default profile (make test, CI): the same examples every run, none remembered between
# runs; `fast` (make test-fast) runs fewer (tests/support/examples.py).
for _profile in ("ci", "fast"):
    hypothesis.settings.register_profile(_profile, derandomize=True, database=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SERVERS_DIR = ROOT / ".data" / "test-servers"
EMBEDDED = pytest.StashKey[contextlib.ExitStack]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.relative_to(ROOT / "tests")
        item.add_marker(MARKERS.get(where.parts[0], "unit"))


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return make_scheduler(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """Embedded servers for those URLs not set, once: in the process that runs the tests or,
    under xdist, in the one that hands them out, before its workers start."""
    if hasattr(config, "workerinput"):
        return
    wanted = {k: os.environ[k] for k in ("DATABASE_URL", "REDIS_URL") if os.environ.get(k)}
    if len(wanted) == 2:
        return
    stack = contextlib.ExitStack()
    ready = stack.enter_context(servers({**wanted, "DATA_DIR": str(SERVERS_DIR)}))
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = ready["DATABASE_URL"], ready["REDIS_URL"]
    config.stash[EMBEDDED] = stack


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(EMBEDDED, None)
    if stack is not None:
        stack.close()


@pytest.fixture(scope="session")
def server_env() -> dict[str, str]:
    return {
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "DATA_DIR": str(SERVERS_DIR),
    }


@pytest.fixture(scope="session")
def database_url(server_env: dict[str, str]) -> Iterator[str]:
    with new_database(sqlalchemy_url(server_env["DATABASE_URL"]), "ev_test") as url:
        command.upgrade(alembic_config(url), "head")
        yield url


@pytest.fixture(scope="session")
def base_settings(database_url: str, server_env: dict[str, str]) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": server_env["REDIS_URL"],
            "DEVICE_TOKENS": DEVICE_TOKEN,
            "ANALYST_TOKENS": ANALYST_TOKEN,
            # The seed sample is from February 2026; keep it inside retention.
            "RETENTION_DAYS": "3650",
            # Not a year of empty day partitions in each history table: every TRUNCATE between
            # tests would lock them all, and the server's lock table is shared by the workers.
            "PARTITION_DAYS_BACK": "7",
            "BATCH_WAIT_MS": "20",
            # Tests refresh and read at once: a read asks every time whether a refresh committed.
            "READ_CACHE_SECONDS": "0",
        }
    )


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """Per test: Redis keys and the Celery queue under a prefix no other test uses."""
    prefix = f"evtest-{uuid.uuid4().hex[:10]}"
    return base_settings.replace(redis_key_prefix=prefix, celery_queue=prefix)


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The app on this test's settings (Redis keys of its own), through Flask's test client."""
    return app.test_client()


@pytest.fixture(scope="session")
def engine(base_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(base_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        transaction = conn.begin()
        yield conn
        transaction.rollback()


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[Engine]:
    """For tests whose code commits: every table emptied after the test."""
    yield engine
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {ALL_TABLES}"))


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = connect(settings.redis_url, settings.redis_timeout_seconds, block_ms=1000)
    yield client
    keys = list(client.scan_iter(match=f"*{settings.redis_key_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def stream(redis_client: redis.Redis, settings: Settings) -> IngestStream:
    stream = IngestStream(redis_client, settings.redis_key_prefix)
    stream.ensure_group()
    return stream


@pytest.fixture
def seeded(clean_db: Engine, settings: Settings) -> None:
    """The seed's sample in history, refreshed as of the seed's moment."""
    from datetime import datetime

    from efficiency import refresh
    from readings.validation import ReadingValidator
    from readings.writer import write_batch
    from tests.support import seed

    as_of = datetime.fromisoformat(seed.AS_OF)
    records, _ = ReadingValidator(settings, clock=lambda: as_of).validate(seed.readings())
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, as_of)

"""Databases of a test's own: empty, or migrated to a given revision (for tests of an upgrade
with data)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, make_url, text

from tests.support.constants import ROOT


@contextmanager
def new_database(server_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on the server `server_url` names; dropped after."""
    server = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def database_at(database_url: str, revision: str) -> Iterator[tuple[Engine, Config]]:
    """An engine on a new database migrated to `revision`, and the Alembic config that moves it;
    the database is dropped after."""
    with new_database(database_url, "ev_upgrade") as url:
        config = alembic_config(url)
        engine = create_engine(url)
        try:
            command.upgrade(config, revision)
            yield engine, config
        finally:
            engine.dispose()

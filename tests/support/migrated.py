"""A database of its own, migrated to a given revision: for tests of an upgrade with data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, make_url, text

from tests.support.constants import ROOT


@contextmanager
def database_at(database_url: str, revision: str) -> Iterator[tuple[Engine, Config]]:
    """An engine on a new database migrated to `revision`, and the Alembic config that moves it;
    the database is dropped after."""
    server = make_url(database_url)
    name = f"ev_upgrade_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = server.set(database=name)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option(
        "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
    )
    engine = create_engine(url)
    try:
        command.upgrade(config, revision)
        yield engine, config
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

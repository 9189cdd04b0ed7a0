"""The database engine, one per process, built from settings."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from settings import Settings

T = TypeVar("T")


def make_engine(
    settings: Settings,
    *,
    pool_size: int = 5,
    application_name: str = "ev",
    pre_ping: bool = True,
    url: str | None = None,
    **options: Any,
) -> Engine:
    engine = create_engine(
        url or settings.database_url,
        **options,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        # Bounded waits: a request or batch fails fast instead of hanging when PostgreSQL is away.
        pool_timeout=5,
        connect_args={
            "connect_timeout": 5,
            "application_name": application_name,
            # Minutes and days are cut in UTC whatever the server's zone. JIT compilation costs
            # hundreds of milliseconds on queries over small temporary tables, whose missing
            # statistics make them look expensive, and saves nothing on these short queries.
            "options": "-c timezone=UTC -c jit=off",
        },
    )
    return engine.execution_options(prepared_statements=settings.database_prepared_statements)


def make_reader(settings: Settings, *, pool_size: int = 2, primary: bool = False) -> Engine:
    """For the API's single-statement reads: autocommit, so a read is one round trip (no BEGIN,
    no ROLLBACK) and no ping first. A connection found dead invalidates the pool; `read` retries.
    They go to DATABASE_READ_URL (a replica, say) unless `primary`: what must be current.
    """
    return make_engine(
        settings,
        url=settings.database_url
        if primary
        else settings.database_read_url or settings.database_url,
        pool_size=pool_size,
        application_name="ev-web",
        pre_ping=False,
        isolation_level="AUTOCOMMIT",
    )


def read(engine: Engine, query: Callable[[Connection], T]) -> T:
    """Run a read, once more on a fresh connection if the first one had died (a restart)."""
    try:
        with engine.connect() as conn:
            return query(conn)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.connect() as conn:
        return query(conn)


def execute_prepared(
    conn: Connection, name: str, statement: str, params: tuple[Any, ...]
) -> CursorResult[Any]:
    """Run `statement` ($1, $2... placeholders) as a server-side prepared statement.

    Prepared once per database session: after a few runs PostgreSQL reuses a generic plan, so a
    hot single-row read skips planning, which otherwise costs more than the read itself.
    With DATABASE_PREPARED_STATEMENTS off (a pooler in transaction mode hands each transaction
    any server connection, where the PREPARE may not exist), it is sent as a plain statement.
    """
    if not conn.get_execution_options().get("prepared_statements", True):
        return conn.exec_driver_sql(re.sub(r"\$\d+", "%s", statement), params)
    prepared = conn.connection.info.setdefault("prepared", set())
    if name not in prepared:
        conn.exec_driver_sql(f"PREPARE {name} AS {statement}")
        prepared.add(name)
    placeholders = ", ".join(["%s"] * len(params))
    return conn.exec_driver_sql(f"EXECUTE {name}({placeholders})", params)


def transaction_lock(conn: Connection, key: int, *, wait: bool = True) -> bool:
    """Take PostgreSQL's advisory lock `key` until conn's transaction ends: one holder across
    every host. A transaction lock, not a session one, so it holds behind a pooler in transaction
    mode too. With wait=False, False at once when another transaction holds it."""
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        return True
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar())

"""The database engine, one per process, built from settings."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine

from settings import Settings


def make_engine(settings: Settings, *, pool_size: int = 5, application_name: str = "ev") -> Engine:
    return create_engine(
        settings.database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
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

"""PostgreSQL connections: the most each process of the service may open, and whether they fit
in what the server allows (docs/SCALING.md, "Connections").

Every engine is made by storage.db.make_engine, which lets a pool open as many again as it keeps
(max_overflow = pool_size) under load: an engine may open twice its pool. The pool sizes live
here, where the budget is counted, and the modules that make the engines read them.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from sqlalchemy import Connection, text

from settings import Settings

# Per worker pool process (workers/resources.py): a batch's transaction, and a full refresh's
# day builders beside it.
WORKER_POOL = 2
# The ocpp process (chargers/server.py): transactions and credentials for every charger.
OCPP_POOL = 4
# A web process, past its reading threads' pool (web/services.py): credentials from the primary
# when reads go to a replica, and OCPP frames forwarded over HTTP.
WEB_PRIMARY_POOL = 1
WEB_OCPP_POOL = 1


def web_most(settings: Settings) -> int:
    """The most one `web` (all its WEB_CONCURRENCY processes) may open to the primary."""
    reads = WEB_PRIMARY_POOL if settings.database_read_url else settings.web_threads
    return settings.web_concurrency * 2 * (reads + WEB_OCPP_POOL)


def worker_most(concurrency: int, pool: str = "prefork") -> int:
    """The most one `worker` may open: each pool process its engine, or one engine for all its
    consumers when they are threads of one process."""
    processes = concurrency if pool == "prefork" else 1
    return processes * 2 * WORKER_POOL


def ocpp_most() -> int:
    return 2 * OCPP_POOL


@dataclass(frozen=True)
class Server:
    max_connections: int
    # Kept for superusers: the service's role is not one, so these are not its to use.
    reserved: int
    # Client connections open now, every application's.
    in_use: int

    @property
    def usable(self) -> int:
        return self.max_connections - self.reserved


_SERVER = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int
"""


def server(conn: Connection) -> Server:
    max_connections, reserved, in_use = conn.execute(text(_SERVER)).one()
    return Server(max_connections, reserved, in_use)


def refusal(process: str, most: int, at: Server) -> str | None:
    """Why `process` must not start, when the most it may open cannot fit in what PostgreSQL
    allows whatever else runs; None when it can."""
    if most <= at.usable:
        return None
    return (
        f"it may open {most} PostgreSQL connections, and PostgreSQL allows {at.usable} "
        f"(max_connections {at.max_connections} less {at.reserved} reserved for superusers). "
        f"Lower {_KNOBS[process]}, raise max_connections, or put PgBouncer in front "
        '(docs/SCALING.md, "Connections")'
    )


def crowding(process: str, most: int, at: Server) -> str | None:
    """A warning when the most `process` may open, beside the connections open now, is more than
    PostgreSQL allows: it may start, and then wait for connections under load."""
    if at.in_use + most <= at.usable:
        return None
    return (
        f"{process} may open {most} PostgreSQL connections; {at.in_use} of the {at.usable} "
        'PostgreSQL allows are open now (docs/SCALING.md, "Connections")'
    )


_KNOBS = {
    "web": "WEB_CONCURRENCY or WEB_THREADS",
    "worker": "WORKER_CONCURRENCY",
    "ocpp": "the ocpp processes per database",
}


def check_at_start(settings: Settings, process: str, most: int) -> None:
    """Refuse to start `process` (exit 1, saying why) when the most it may open cannot fit, and
    warn when it may crowd the server. PostgreSQL unreachable now is no reason not to start:
    every process waits for it as it always does."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import make_engine

    engine = make_engine(settings, pool_size=1, application_name=f"ev-{process}-start")
    try:
        with engine.connect() as conn:
            at = server(conn)
    except SQLAlchemyError:
        return
    finally:
        engine.dispose()
    reason = refusal(process, most, at)
    if reason:
        sys.stderr.write(f"ev {process} refuses to start: {reason}\n")
        raise SystemExit(1)
    warning = crowding(process, most, at)
    if warning:
        logging.getLogger(__name__).warning("event=connections_crowded %s", warning)

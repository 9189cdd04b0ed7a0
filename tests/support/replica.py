"""A streaming replica of a test's own PostgreSQL primary: a second cluster made with
`pg_basebackup -R` (a hot standby following the primary's WAL), on a port of its own, from
pgserver's binaries and as pgserver's user, like the primary."""

from __future__ import annotations

import importlib
import os
import pwd
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from settings import sqlalchemy_url
from tests.support.private_servers import PrivatePostgres
from tools.local import free_port


class StreamingReplica:
    def __init__(self, primary: PrivatePostgres, directory: Path) -> None:
        # pgserver makes one function per binary when imported: unknown to a type checker.
        pg: Any = importlib.import_module("pgserver._commands")

        self._pg, self._user = pg, primary.server.system_user
        self.pgdata, self.sockets = directory / "pgdata", directory / "sockets"
        self.sockets.mkdir(parents=True)
        if self._user:  # root: the server runs as pgserver's unprivileged user
            owner = pwd.getpwnam(self._user)
            for path in (directory, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.port = free_port()
        primary_sockets = primary.url.split("host=", 1)[1]
        # -R writes standby.signal and primary_conninfo: it starts as the primary's standby.
        pg.pg_basebackup(
            ["-h", primary_sockets, "-U", "postgres", "-D", str(self.pgdata), "-R",
             "-X", "stream", "-c", "fast"],
            user=self._user, timeout=120,
        )  # fmt: skip
        pg.pg_ctl(
            ["-w", "-o", "-h ''", "-o", f"-k {self.sockets}", "-o", f"-p {self.port}",
             "-l", str(directory / "replica.log"), "start"],
            pgdata=self.pgdata, user=self._user, timeout=60,
        )  # fmt: skip
        self.url = f"postgresql://postgres@/faults?host={self.sockets}&port={self.port}"

    def engine(self) -> Engine:
        return create_engine(sqlalchemy_url(self.url), isolation_level="AUTOCOMMIT")

    def pause_replay(self) -> None:
        self._sql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self._sql("SELECT pg_wal_replay_resume()")

    def lag_seconds(self) -> float:
        """How far behind the primary's last commit the replica's answers are."""
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return float(
                    conn.execute(
                        text("SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    def _sql(self, statement: str) -> None:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    def stop(self) -> None:
        self._pg.pg_ctl(
            ["-w", "-m", "immediate", "stop"], pgdata=self.pgdata, user=self._user, timeout=60
        )
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)

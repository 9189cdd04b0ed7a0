"""The service under test: a database of its own, Redis keys of its own, the Procfile processes."""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from alembic import command
from alembic.config import Config
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, create_engine, make_url, text

from models.schema import ALL_TABLES
from settings import Settings, sqlalchemy_url
from storage import partitions
from storage.db import make_engine
from tools.local import free_port
from tools.stack import ROOT, Stack, wait_until

DEVICE_TOKEN, ANALYST_TOKEN = "bench-device", "bench-analyst"
PREFIX = "bench"
TABLES = ALL_TABLES


@dataclass(frozen=True)
class Service:
    database_url: str
    redis_url: str
    work_dir: Path

    @classmethod
    def create(cls, server_env: dict[str, str], work_dir: Path) -> Service:
        """A fresh `ev_bench` database on the server, migrated, with today's partitions."""
        server = make_url(sqlalchemy_url(server_env["DATABASE_URL"]))
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS ev_bench WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE ev_bench"))
        admin.dispose()
        url = server.set(database="ev_bench").render_as_string(hide_password=False)
        config = Config(str(ROOT / "alembic.ini"))
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        command.upgrade(config, "head")
        service = cls(url, server_env["REDIS_URL"], work_dir)
        partitions.maintain(service.engine(), days_ahead=2, retention_days=2)
        return service

    def settings(self) -> Settings:
        env = {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}
        return Settings.from_env({**env, "REDIS_KEY_PREFIX": PREFIX, "RETENTION_DAYS": "3650"})

    @functools.cache  # noqa: B019 (one Service per run)
    def engine(self) -> Engine:
        return make_engine(self.settings(), pool_size=2, application_name="ev-bench")

    def reset(self) -> None:
        """Empty tables and the stream: every measurement starts from the same state."""
        with self.engine().begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES}"))
        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=f"*{PREFIX}*"))
        if keys:
            client.delete(*keys)

    def backlog(self) -> int:
        client = redis.Redis.from_url(self.redis_url)
        return int(client.get(f"{{{PREFIX}}}:ingest:backlog") or 0)

    @contextmanager
    def running(
        self,
        name: str,
        wrap: list[str] | None = None,
        web: list[str] | None = None,
        **env: Any,
    ) -> Iterator[Stack]:
        """web and worker (as the Procfile runs them), with metrics in a directory of their own;
        `wrap` runs each under a command (taskset, say); `web` replaces the web command."""
        metrics_dir = self.work_dir / name / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        stack = Stack(
            env={
                "PATH": "/usr/bin:/bin",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "REDIS_KEY_PREFIX": PREFIX,
                "CELERY_QUEUE": PREFIX,
                "DEVICE_TOKENS": DEVICE_TOKEN,
                "ANALYST_TOKENS": ANALYST_TOKEN,
                "RETENTION_DAYS": "3650",
                # The bench's days only: its reset's TRUNCATE locks every partition.
                "PARTITION_DAYS_BACK": "2",
                "PORT": str(free_port()),
                "DATA_DIR": str(self.work_dir / name),
                "METRICS_DIR": str(metrics_dir),
                "REFRESH_SECONDS": "3600",
                **{k: str(v) for k, v in env.items()},
            },
            logs=self.work_dir / name,
            wrap=wrap or [],
        )
        try:
            stack.start("web", command=web)
            stack.start("worker")
            wait_until(lambda: self._consumers() >= 1, 60, "stream consumers")
            yield stack
        finally:
            stack.stop_all()

    def _consumers(self) -> int:
        client = redis.Redis.from_url(self.redis_url)
        try:
            return len(client.xinfo_consumers(f"{{{PREFIX}}}:ingest", "writers"))
        except redis.ResponseError:
            return 0

    def stored(self) -> int:
        with self.engine().connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM meter_readings) "
                        "+ (SELECT count(*) FROM vehicle_readings)"
                    )
                ).scalar_one()
            )

    def wait_drained(self, timeout: float = 600) -> float:
        started = time.monotonic()
        wait_until(lambda: self.backlog() == 0, timeout, "the stream to drain")
        return time.monotonic() - started


def lag_quantiles(metrics_dir: Path, quantiles: tuple[float, ...] = (0.5, 0.99)) -> list[float]:
    """Quantiles of ev_ingest_lag_seconds, interpolated in its buckets (histogram_quantile)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    buckets: list[tuple[float, float]] = []
    for metric in registry.collect():
        if metric.name == "ev_ingest_lag_seconds":
            buckets = sorted(
                (float(s.labels["le"]), s.value)
                for s in metric.samples
                if s.name.endswith("_bucket")
            )
    total = buckets[-1][1] if buckets else 0
    out = []
    for q in quantiles:
        if not total:
            out.append(float("nan"))
            continue
        rank, lower_bound, lower_count = q * total, 0.0, 0.0
        for bound, count in buckets:
            if count >= rank:
                width = count - lower_count
                share = (rank - lower_count) / width if width else 1.0
                finite = bound != float("inf")
                out.append(lower_bound + (bound - lower_bound) * share if finite else lower_bound)
                break
            lower_bound, lower_count = bound, count
    return out

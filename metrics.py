"""Prometheus metrics.

Every process of a host (gunicorn workers, Celery pool processes, beat) writes its samples to
METRICS_DIR (prometheus-client's multiprocess mode), and GET /metrics sums them. The stream's
and the performance table's state is read live when scraped, so every web instance reports the
whole deployment's buffer and freshness. This module must be imported before anything else
imports prometheus_client: the multiprocess switch is an environment variable read at import.
"""

from __future__ import annotations

import os
import socket

from settings import get_settings

_dir = os.path.abspath(get_settings().metrics_dir)
os.makedirs(_dir, exist_ok=True)
# Set, not defaulted: a value inherited from a parent process (a test runner, a shell) must not
# send this deployment's samples to another deployment's directory.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _dir

from prometheus_client import Counter, Histogram, values  # noqa: E402

# Someone may have imported prometheus_client before us (Celery's command line loads Flower's
# plugin, which does), and its value class is chosen at import: choose again, now that the
# multiprocess directory is set, or this process's samples would never reach /metrics.
# Files are named by host and process id, not the id alone: containers sharing one directory
# (docker-compose.yml) each number their processes from 1.
values.ValueClass = values.MultiProcessValue(lambda: f"{socket.gethostname()}_{os.getpid()}")

LAG_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1,
    1.5,
    2,
    3,
    5,
    10,
    30,
    60,
    300,
)
SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)

READINGS_ACCEPTED = Counter(
    "ev_readings_accepted_total", "Readings validated and queued (202).", ["kind"]
)
READINGS_REJECTED = Counter(
    "ev_readings_rejected_total",
    "Readings refused by validation, by kind and the first field at fault.",
    ["kind", "reason"],
)
REQUESTS_REFUSED = Counter(
    "ev_ingest_requests_refused_total", "Ingest requests refused whole, by status.", ["status"]
)
READINGS_WRITTEN = Counter(
    "ev_readings_written_total",
    "Readings committed to history: new, or already there (a retry or redelivery).",
    ["result"],
)
BATCH_READINGS = Histogram(
    "ev_batch_readings", "Readings per committed micro-batch.", buckets=SIZE_BUCKETS
)
COMMIT_SECONDS = Histogram(
    "ev_batch_commit_seconds",
    "From reading a micro-batch to acknowledging it.",
    buckets=LAG_BUCKETS,
)
INGEST_LAG = Histogram(
    "ev_ingest_lag_seconds", "From a reading's 202 to its commit.", buckets=LAG_BUCKETS
)
DEAD_LETTERED = Counter(
    "ev_readings_dead_lettered_total", "Readings PostgreSQL refused, moved to dead letters."
)
REFRESH_SECONDS = Histogram(
    "ev_refresh_seconds", "Duration of the efficiency refresh.", ["mode"], buckets=LAG_BUCKETS
)

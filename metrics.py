"""Prometheus metrics.

Every process of a container or host (web workers, Celery pool processes, beat, ocpp) writes
its samples to METRICS_DIR (prometheus-client's multiprocess mode), one directory per container,
emptied when the container starts (docker-compose.yml's tmpfs; `make run` empties its own), and
never shared between containers. Web's GET /metrics sums its container's; a worker or ocpp
container serves its own on METRICS_PORT; Prometheus scrapes each (monitoring/prometheus.yml).
A process that ends says so (mark_process_dead), so its live gauges stop counting. The stream's
and the efficiency table's state is read live when scraped, so every web instance reports the
whole deployment's buffer and freshness. This module must be imported before anything else
imports prometheus_client: the multiprocess switch is an environment variable read at import.
"""

from __future__ import annotations

import atexit
import os
import tempfile

from settings import get_settings


def _usable(directory: str) -> str | None:
    """Why this process cannot keep its samples in `directory`, or None when it can."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        return f"cannot be created ({exc.strerror})"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"is not writable by uid {os.getuid()}"
    return None


SHARED_DIR = os.path.abspath(get_settings().metrics_dir)
# Importing must never fail (a one-off command such as a migration imports this too): samples of
# a process that cannot write METRICS_DIR go to a private directory, and the long-running
# processes refuse to start instead (require_shared_dir), saying why.
PROBLEM = _usable(SHARED_DIR)
_dir = tempfile.mkdtemp(prefix="ev-metrics-") if PROBLEM else SHARED_DIR
# Set, not defaulted: a value inherited from a parent process (a test runner, a shell) must not
# send this deployment's samples to another deployment's directory.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _dir


class MetricsDirUnusable(RuntimeError):
    pass


def require_shared_dir() -> None:
    """For web, worker and beat: their samples must reach the directory /metrics reads."""
    if PROBLEM:
        raise MetricsDirUnusable(
            f"METRICS_DIR={SHARED_DIR} {PROBLEM}: give every process of the host a directory it "
            "can write (in docker-compose.yml, the shared `metrics` volume)"
        )


from prometheus_client import Counter, Gauge, Histogram, multiprocess, values  # noqa: E402

# Someone may have imported prometheus_client before us (Celery's command line loads Flower's
# plugin, which does), and its value class is chosen at import: choose again, now that the
# multiprocess directory is set, or this process's samples would never reach /metrics.
values.ValueClass = values.MultiProcessValue()


def process_ended() -> None:
    """This process is ending: its live gauges (chargers connected) must stop adding to the
    sum. Its counters and histograms stay: what it counted happened."""
    multiprocess.mark_process_dead(os.getpid(), _dir)


# Every normal exit; Celery's pool processes end with os._exit, so workers/celery_app.py says it
# for them.
atexit.register(process_ended)

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
FIELDS_IGNORED = Counter(
    "ev_ingest_fields_ignored_total",
    "Fields unknown to this version dropped from readings sent with Unknown-Fields: ignore.",
)
REQUESTS_REFUSED = Counter(
    "ev_ingest_requests_refused_total", "Ingest requests refused whole, by status.", ["status"]
)
# At zero from the start, so a rate over them (the dashboard's) exists before the first refusal.
for _status in ("429", "503"):
    REQUESTS_REFUSED.labels(_status)
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
REFRESH_DURATION = Histogram(
    "ev_refresh_seconds", "Duration of the efficiency refresh.", ["mode"], buckets=LAG_BUCKETS
)

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
REQUEST_SECONDS = Histogram(
    "ev_http_request_duration_seconds",
    "HTTP requests by endpoint (the route, not the path) and status, from the app's first hook "
    "to its last.",
    ["method", "endpoint", "status"],
    buckets=HTTP_BUCKETS,
)

OCPP_MESSAGES = Counter(
    "ev_ocpp_messages_total",
    "OCPP calls from chargers, by protocol, action and outcome (confirmed, error).",
    ["protocol", "action", "outcome"],
)
OCPP_VALUES_REFUSED = Counter(
    "ev_ocpp_values_refused_total",
    "Meter values no charger can mean (a clock before retention, a negative register...): "
    "not stored, not confirmed.",
    ["protocol"],
)
OCPP_CONNECTIONS = Gauge(
    "ev_ocpp_connections", "Chargers connected over WebSocket.", multiprocess_mode="livesum"
)


def host_samples() -> bytes:
    """The samples of every process writing to this host's METRICS_DIR, as Prometheus text."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)


def serve_host_samples(address: str, port: int) -> None:
    """Serve host_samples() at http://address:port/metrics from a daemon thread: a worker or
    ocpp process on a host with no web process (METRICS_PORT). A port already taken (two such
    processes on one host: either serves the same samples) is said and skipped."""
    import logging
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prometheus_client import CONTENT_TYPE_LATEST

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = host_samples()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # a scrape every 15 s is no news
            pass

    try:
        server = ThreadingHTTPServer((address, port), Handler)
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "event=metrics_port_unavailable port=%s error=%s", port, exc
        )
        return
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


def clear_dir() -> int:
    """Empty METRICS_DIR of every process's samples: before a host's processes start, as
    prometheus_client's multiprocess mode requires (else a process id reused across runs would
    carry an old run's values). A container's tmpfs is empty at each start without it. How many
    files were removed."""
    removed = 0
    for name in os.listdir(SHARED_DIR) if not PROBLEM else []:
        if name.endswith(".db"):
            os.unlink(os.path.join(SHARED_DIR, name))
            removed += 1
    return removed

"""GET /metrics: Prometheus text, open like the health checks (it holds no reading or token)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

import metrics  # noqa: F401  (switches prometheus_client to multiprocess mode first)
from buffer import dead_letters
from devices import availability
from efficiency import fleet
from web import routes
from web.services import Services, services

bp = Blueprint("monitoring", __name__)


class LiveState:
    """The deployment's buffer and analytics freshness, read when scraped."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "ev_dependency_up", "Whether a dependency answered.", labels=["name"]
        )
        try:
            yield from self._stream()
            up.add_metric(["redis"], 1)
        except Exception:  # a scrape reports what it can; the gauge says what failed
            up.add_metric(["redis"], 0)
        try:
            yield from self._performance()
            up.add_metric(["postgres"], 1)
        except Exception:
            up.add_metric(["postgres"], 0)
        yield up

    def _stream(self) -> Iterator[GaugeMetricFamily]:
        stream = self.services.stream
        stats = stream.stats()
        oldest: Any = stream.redis.xrange(stream.key, count=1)
        lag = time.time() - int(oldest[0][0].split(b"-")[0]) / 1000 if oldest else 0.0
        gauges = {
            "ev_stream_entries": ("Entries in the stream, not yet acknowledged.", stats.length),
            "ev_stream_backlog_readings": ("Readings queued, not yet committed.", stats.backlog),
            "ev_stream_backlog_limit_readings": (
                "STREAM_MAX_READINGS: past it, ingest answers 503.",
                self.services.settings.stream_max_readings,
            ),
            "ev_stream_pending_entries": (
                "Entries a consumer holds, unacknowledged.",
                stats.pending,
            ),
            "ev_stream_consumers": ("Consumers in the writers group.", len(stats.consumers)),
            "ev_consumer_lag_seconds": ("Age of the oldest reading not yet committed.", lag),
            "ev_redis_may_evict": (
                "1 when Redis's maxmemory-policy may evict queued readings (set noeviction).",
                1 if stream.evicting_policy() else 0,
            ),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=value)

    def _performance(self) -> Iterator[GaugeMetricFamily]:
        threshold = self.services.settings.efficiency_alert_below
        with self.services.engine.connect() as conn:
            health = fleet.health(conn, threshold)
            letters = dead_letters.count(conn)
            settings = self.services.settings
            chargers = availability.fleet_now(
                conn,
                settings.ocpp_silence,
                timedelta(seconds=settings.charger_down_alert_seconds),
            )
            distribution = fleet.efficiency_distribution(conn)
        spread = GaugeMetricFamily(
            "ev_performance_efficiency_devices",
            "Vehicles and meters (subject) in the efficiency table charging at an efficiency at "
            "or under `le`: a histogram's cumulative buckets, for the fleet's distribution.",
            labels=["subject", "le"],
        )
        bounds = [*map(str, fleet.EFFICIENCY_BOUNDS), "+Inf"]
        for subject, counts in distribution.items():
            for bound, count in zip(bounds, counts, strict=True):
                spread.add_metric([subject, bound], count)
        yield spread
        under = f"at an efficiency under EFFICIENCY_ALERT_BELOW ({threshold})"
        gauges = {
            "ev_performance_age_seconds": (
                "Time since the efficiency table was refreshed.",
                health.age_seconds,
            ),
            "ev_performance_vehicles": ("Vehicles in the efficiency table.", health.vehicles),
            "ev_performance_vehicles_below_threshold": (
                f"Vehicles charging {under}.",
                health.vehicles_below,
            ),
            "ev_performance_meters": ("Meters (chargers) in the efficiency table.", health.meters),
            "ev_performance_meters_below_threshold": (
                f"Meters (chargers) delivering {under}.",
                health.meters_below,
            ),
            "ev_performance_suspect_minutes": (
                "Kept (meter, minute)s of the 24 h window where DC exceeds AC: a clock or a "
                "meter is wrong.",
                health.suspect_minutes,
            ),
            "ev_chargers_failing": (
                "Chargers whose last CHARGER_ALERT_SESSIONS sessions all charged under "
                "EFFICIENCY_ALERT_BELOW, as last checked.",
                health.failing_chargers,
            ),
            "ev_dead_letters": ("Dead letters waiting to be replayed or looked at.", letters),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=value)
        yield from _chargers(chargers, self.services.settings.charger_down_alert_seconds)


def _chargers(now: availability.FleetNow, too_long: int) -> Iterator[GaugeMetricFamily]:
    by_status = GaugeMetricFamily(
        "ev_connectors",
        "Chargers' connectors (and EVSEs) by the status they last sent.",
        labels=["status"],
    )
    for status, count in sorted(now.connectors_by_status.items()):
        by_status.add_metric([status], count)
    yield by_status
    gauges = {
        "ev_chargers_connected": (
            "Chargers heard now: a WebSocket open, or a forwarded charger's last message within "
            "two heartbeat intervals.",
            now.chargers_connected,
        ),
        "ev_chargers_offline_too_long": (
            f"Chargers not heard for more than CHARGER_DOWN_ALERT_SECONDS ({too_long}).",
            now.chargers_offline_too_long,
        ),
        "ev_connectors_down_too_long": (
            "Connectors (or chargers, by connector 0) Faulted or Unavailable for more than "
            f"CHARGER_DOWN_ALERT_SECONDS ({too_long}).",
            now.connectors_down_too_long,
        ),
    }
    for name, (doc, value) in gauges.items():
        yield GaugeMetricFamily(name, doc, value=value)


class RenderedOnce:
    """The page, made at most once per `seconds` per process: rendering reads every process's
    sample files and asks Redis and PostgreSQL, tens of milliseconds that an open endpoint must
    not let anyone spend at will. Concurrent scrapes wait for the one rendering."""

    def __init__(
        self, render: Callable[[], bytes], seconds: float, clock: Callable[[], float]
    ) -> None:
        self.render, self.seconds, self.clock = render, seconds, clock
        self.lock = threading.Lock()
        self.page, self.until = b"", float("-inf")

    def get(self) -> bytes:
        with self.lock:
            if self.clock() >= self.until:
                self.page = self.render()
                self.until = self.clock() + self.seconds
            return self.page


def render(app_services: Services) -> bytes:
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(LiveState(app_services))
    return generate_latest(registry)


# How long a rendered page is served again; Prometheus scrapes every 15 s or more.
PAGE_SECONDS = 1.0


@bp.get(routes.METRICS)
def scrape() -> Response:
    app_services = services()
    page = current_app.extensions.setdefault(
        "ev_metrics_page", RenderedOnce(lambda: render(app_services), PAGE_SECONDS, time.monotonic)
    )
    return Response(page.get(), mimetype=CONTENT_TYPE_LATEST)

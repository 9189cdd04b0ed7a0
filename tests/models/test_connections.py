"""The connection budget counts the pools the processes really make, the documented default
deployment fits PostgreSQL's default 100, and the refusal says what to change."""

from __future__ import annotations

from typing import Any

from storage import connections
from storage.connections import Server
from web import create_app, services
from workers import resources

DEFAULT_POSTGRESQL = Server(max_connections=100, reserved=3, in_use=0)


def test_the_budget_counts_the_pools_the_engines_are_made_with(settings, monkeypatch):
    app_services = services(create_app(settings))
    reader: Any = app_services.engine.pool
    ocpp: Any = app_services.ocpp.engine.pool
    per_web_process = reader.size() + reader._max_overflow + ocpp.size() + ocpp._max_overflow
    assert connections.web_most(settings) == settings.web_concurrency * per_web_process
    monkeypatch.setattr(resources, "get_settings", lambda: settings)
    resources.engine.cache_clear()
    try:
        worker: Any = resources.engine().pool
        assert connections.worker_most(3) == 3 * (worker.size() + worker._max_overflow)
    finally:
        resources.engine.cache_clear()


def test_four_default_workers_fit_the_default_postgresql_beside_web_and_ocpp(settings):
    defaults = settings.replace(worker_concurrency=0, web_concurrency=2, web_threads=4)
    concurrency = defaults.worker_processes
    assert 1 <= concurrency <= 4
    total = (
        connections.web_most(defaults)
        + 4 * connections.worker_most(4)  # the most any host's CPUs give by default
        + connections.ocpp_most()
    )
    assert total <= DEFAULT_POSTGRESQL.usable
    assert connections.refusal("worker", connections.worker_most(4), DEFAULT_POSTGRESQL) is None


def test_a_process_that_cannot_fit_is_refused_with_what_to_change(clean_db):
    with clean_db.connect() as conn:
        at = connections.server(conn)
    assert at.max_connections > at.reserved >= 0
    assert at.in_use >= 1  # this connection
    reason = connections.refusal("worker", at.usable + 1, at)
    assert reason is not None
    assert f"may open {at.usable + 1} PostgreSQL connections" in reason
    assert "Lower WORKER_CONCURRENCY" in reason
    assert connections.refusal("worker", at.usable, at) is None
    crowded = Server(at.max_connections, at.reserved, in_use=at.usable)
    assert connections.crowding("web", 1, crowded) is not None
    assert connections.crowding("web", 1, Server(100, 3, 0)) is None

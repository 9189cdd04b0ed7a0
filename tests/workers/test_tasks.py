"""The Celery plumbing: tasks registered under their names, scheduled by beat, doing their job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

import celeryconfig
from readings.writer import write_batch
from settings import Settings
from tests.support.factories import meter_rec, vehicle_rec
from workers import app, resources, tasks


def test_tasks_are_registered_under_their_names():
    names = set(app.tasks)
    assert {
        "ev.refresh_performance",
        "ev.maintain_partitions",
        "ev.prune_consumers",
        "ev.check_chargers",
    } <= names


def test_beat_schedules_every_task_with_its_period():
    schedule = celeryconfig.beat_schedule
    assert schedule["refresh-performance"]["task"] == "ev.refresh_performance"
    assert schedule["refresh-performance"]["schedule"] == timedelta(seconds=60)
    assert schedule["check-chargers"]["schedule"] == timedelta(seconds=300)
    assert {e["task"] for e in schedule.values()} == {
        "ev.refresh_performance",
        "ev.maintain_partitions",
        "ev.prune_consumers",
        "ev.check_chargers",
    }


def test_acks_late_so_a_lost_worker_does_not_lose_a_job():
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1


@pytest.fixture
def worker_resources(monkeypatch, clean_db, stream):
    monkeypatch.setattr(resources, "engine", lambda: clean_db)
    monkeypatch.setattr(resources, "stream", lambda: stream)


def test_refresh_task_refreshes_the_table(worker_resources, clean_db):
    now = datetime.now(UTC) - timedelta(minutes=2)
    with clean_db.begin() as conn:
        write_batch(conn, [meter_rec("M1", now), vehicle_rec("V1", "M1", now)])
    outcome = tasks.refresh_performance.apply().get()
    assert outcome["vehicles"] == 1
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM vehicle_efficiency_24h")).scalar() == 1


def test_check_chargers_task_judges_the_chargers(worker_resources, clean_db):
    start = datetime.now(UTC) - timedelta(hours=3)
    records = []
    for hour in range(3):  # three sessions on M1, each at 0.5
        for minute in range(3):
            at = start + timedelta(hours=hour, minutes=minute)
            records += [meter_rec("M1", at, kwh=1.0), vehicle_rec(f"V{hour}", "M1", at, kwh=0.5)]
    with clean_db.begin() as conn:
        write_batch(conn, records)
    tasks.refresh_performance.apply().get()
    assert tasks.check_chargers.apply().get() == {"failing": 1}


def test_prune_task_removes_gone_consumers(worker_resources, stream, monkeypatch):
    stream.add([meter_rec()], bound=10)
    entries = stream.read_new("gone#0", 1)
    stream.ack(entries)
    monkeypatch.setattr(tasks, "get_settings", lambda: Settings(consumer_gone_seconds=0))
    assert tasks.prune_consumers.apply().get() == {"removed": ["gone#0"], "rescued": 0}


def test_prune_task_puts_back_what_no_consumer_holds(worker_resources, stream, clean_db):
    stream.add([meter_rec()], bound=10)
    stream.read_new("deleted#0", 1)
    stream.redis.xgroup_delconsumer(stream.key, "writers", "deleted#0")  # by hand
    assert tasks.prune_consumers.apply().get()["rescued"] == 1
    assert [e.records for e in stream.read_new("live#0", 10)] == [[meter_rec()]]


def test_maintenance_task_creates_partitions(worker_resources):
    outcome = tasks.maintain_partitions.apply().get()
    assert set(outcome) == {"created", "dropped", "skipped", "packed_readings"}
    assert outcome["skipped"] is False


def test_metrics_reach_the_shared_directory_even_if_prometheus_was_imported_first(tmp_path):
    # Celery's command line imports prometheus_client (through Flower's plugin) before our
    # metrics module: samples must still be written where /metrics reads them.
    import subprocess
    import sys

    code = (
        "import prometheus_client, metrics; metrics.DEAD_LETTERED.inc(); "
        "import os; print(sorted(os.listdir(os.environ['METRICS_DIR'])))"
    )
    env = {"METRICS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "counter_" in out


def test_metrics_go_to_metrics_dir_whatever_the_parent_process_had_set(tmp_path):
    import subprocess
    import sys

    inherited = tmp_path / "parents"
    inherited.mkdir()
    code = (
        "import metrics, os; metrics.DEAD_LETTERED.inc(); "
        "print(os.listdir(os.environ['METRICS_DIR']))"
    )
    env = {
        "METRICS_DIR": str(tmp_path / "ours"),
        "PROMETHEUS_MULTIPROC_DIR": str(inherited),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": ".",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "counter_" in out.stdout, out.stderr
    assert list(inherited.iterdir()) == []


@pytest.mark.parametrize(
    ("queue", "control", "events"),
    [("ev", "celery", "celeryev"), ("fleet-b", "fleet-b.control", "fleet-b.events")],
)
def test_a_deployment_with_its_own_queue_has_its_own_control_and_event_exchanges(
    queue, control, events
):
    """Two deployments on one Redis: `celery inspect`, the health check's ping and task events
    reach each one's workers only. The default keeps Celery's names, for Flower's image."""
    import os
    import subprocess
    import sys

    code = "from workers import app; print(app.conf.control_exchange, app.conf.event_exchange)"
    env = {**os.environ, "CELERY_QUEUE": queue}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == [control, events]

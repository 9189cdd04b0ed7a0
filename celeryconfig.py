"""Celery's configuration, derived from settings.py (the one place that reads the environment)."""

import os
from datetime import timedelta

from settings import Settings, get_settings

_settings = get_settings()

broker_url = _settings.celery_broker_url
broker_connection_retry_on_startup = True
broker_transport_options: dict[str, object] = {"visibility_timeout": 3600}
if broker_url.startswith("sentinel://"):
    # Kombu's Sentinel transport: the master by name, asked of the Sentinels again on failover.
    broker_transport_options["master_name"] = _settings.redis_sentinel_master
    if _settings.redis_sentinel_password:
        broker_transport_options["sentinel_kwargs"] = {
            "password": _settings.redis_sentinel_password
        }
task_default_queue = _settings.celery_queue
# A deployment with a queue of its own (another deployment shares its Redis, or a test does) has
# its own control and event exchanges too: `celery inspect`, the health check's ping and task
# events reach its workers only. The default keeps Celery's names, so a monitor that does not
# load this file (Flower's own image, docker-compose.yml) still sees the workers.
if _settings.celery_queue != Settings.celery_queue:
    control_exchange = f"{_settings.celery_queue}.control"
    event_exchange = f"{_settings.celery_queue}.events"
task_ignore_result = True
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# One per CPU up to four by default: one consumer commits tens of thousands of readings a second
# (docs/SCALING.md), more hosts go further than more processes, and four workers of four fit
# PostgreSQL's default 100 connections beside web and ocpp.
worker_concurrency = _settings.worker_processes
worker_hijack_root_logger = False
# So Flower and `celery events` see the ingest: each committed batch is sent as an
# `ev.ingest_batch` task (workers/events.py).
worker_send_task_events = True
timezone = "UTC"

# Every host may run beat; one sends at a time (workers/beat.py).
beat_scheduler = "workers.beat:LeaderScheduler"
beat_schedule_filename = os.path.join(_settings.data_dir, "celerybeat-schedule")
beat_schedule = {
    # Expiring at the next run keeps a stopped worker from facing a pile of stale refreshes.
    "refresh-performance": {
        "task": "ev.refresh_performance",
        "schedule": timedelta(seconds=_settings.refresh_seconds),
        "options": {"expires": _settings.refresh_seconds},
    },
    "maintain-partitions": {
        "task": "ev.maintain_partitions",
        "schedule": timedelta(seconds=_settings.maintenance_seconds),
        "options": {"expires": _settings.maintenance_seconds},
    },
    "check-chargers": {
        "task": "ev.check_chargers",
        "schedule": timedelta(seconds=_settings.charger_check_seconds),
        "options": {"expires": _settings.charger_check_seconds},
    },
    "prune-consumers": {
        "task": "ev.prune_consumers",
        "schedule": timedelta(seconds=_settings.consumer_gone_seconds),
        "options": {"expires": _settings.consumer_gone_seconds},
    },
}

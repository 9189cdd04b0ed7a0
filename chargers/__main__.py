"""`python -m chargers`: the Procfile's `ocpp` process. It never runs open: every charger
authenticates (chargers/server.py), unless AUTH_DISABLED is set."""

from __future__ import annotations

import asyncio
import sys

import logs
import metrics
import ports
from chargers.server import run
from settings import get_settings
from storage import connections
from storage.redis_client import RedisClusterRefused, refuse_cluster

settings = get_settings()
logs.configure(settings)
try:
    ports.require_free(settings.host, settings.ocpp_port, "the OCPP")
    metrics.require_shared_dir()
    refuse_cluster(settings)
except (ports.PortTaken, metrics.MetricsDirUnusable, RedisClusterRefused) as exc:
    sys.stderr.write(f"ev ocpp refuses to start: {exc}\n")
    raise SystemExit(1) from exc
connections.check_at_start(settings, "ocpp", connections.ocpp_most())
# A restarted process may reuse its predecessor's sample file (the same host and process id):
# the chargers connected start from none, not from the last run's count.
metrics.OCPP_CONNECTIONS.set(0)
if settings.metrics_port:
    metrics.serve_host_samples(settings.host, settings.metrics_port)
asyncio.run(run(settings))

"""`python -m chargers`: the Procfile's `ocpp` process. It never runs open: every charger
authenticates (chargers/server.py), unless AUTH_DISABLED is set."""

from __future__ import annotations

import asyncio
import sys

import logs
import metrics
from chargers.server import run
from models import connections
from settings import get_settings

settings = get_settings()
logs.configure(settings)
try:
    metrics.require_shared_dir()
except metrics.MetricsDirUnusable as exc:
    sys.stderr.write(f"ev ocpp refuses to start: {exc}\n")
    raise SystemExit(1) from exc
connections.check_at_start(settings, "ocpp", connections.ocpp_most())
asyncio.run(run(settings))

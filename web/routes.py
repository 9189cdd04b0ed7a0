"""Every path the service answers, declared once, as the OpenAPI document writes it
(`{vehicleId}`): the blueprints route them through `flask()` (`<vehicle_id>`, Flask's rule, which
is also the route's label in the metrics), and the servers' fast paths match them."""

from __future__ import annotations

import re

from models.kinds import Kind

INGEST = "/v1/ingest"
OCPP = "/v1/ocpp/{version}/{chargePointId}"
VEHICLES = "/v1/analytics/performance"
VEHICLE = f"{VEHICLES}/{{vehicleId}}"
METERS = "/v1/analytics/meters"
METER = f"{METERS}/{{meterId}}"
# Chargers' connectors by their availability, worst first.
CONNECTORS = "/v1/analytics/availability"
HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
DASHBOARD = "/dashboard"
DASHBOARD_ASSET = f"{DASHBOARD}/assets/{{name}}"
DOCS = "/docs"
OPENAPI = "/openapi.json"


def device(kind: Kind) -> str:
    """A device's newest reading."""
    return f"/v1/{kind.plural}/{{{kind.id_wire}}}"


def readings(kind: Kind) -> str:
    """A device's history."""
    return f"{device(kind)}/readings"


def sessions(kind: Kind) -> str:
    """A device's charging sessions."""
    return f"{device(kind)}/sessions"


def samples(kind: Kind) -> str:
    """What a meter measured besides energy."""
    return f"{device(kind)}/samples"


def signed_values(kind: Kind) -> str:
    """A meter's signed meter values."""
    return f"{device(kind)}/signed-values"


def availability(kind: Kind) -> str:
    """A meter's (a charger's connector's) availability."""
    return f"{device(kind)}/availability"


def flask(path: str, **names: str) -> str:
    """The path as a Flask rule: each `{name}` a `<snake_name>`, or `<names[name]>`."""
    return re.sub(r"\{(\w+)\}", lambda m: f"<{names.get(m[1]) or _snake(m[1])}>", path)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()

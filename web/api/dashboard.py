"""/dashboard: the analysts' page. Static files; the page calls the API with the analyst token
the user typed (kept in the browser). Its chart library (plotly.js) is vendored in
web/static/vendor/ (version, source and licence in the README there): nothing comes from a CDN.
Three tabs: the vehicles and the chargers (meters), each worst first, with a histogram and a
drill-down by hour; and the chargers' connectors by availability (status now, uptime over the
last 24 h, a connector's outages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, send_from_directory

from web import routes
from web.routes import flask
from web.services import services

STATIC = Path(__file__).parents[1] / "static"
VENDOR = STATIC / "vendor"

bp = Blueprint("dashboard", __name__)


# The page as shipped, its highlight threshold filled in from EFFICIENCY_ALERT_BELOW.
PAGE = (STATIC / "dashboard.html").read_text()


@bp.get(routes.DASHBOARD)
def page() -> Any:
    threshold = services().settings.efficiency_alert_below
    body = PAGE.replace("__THRESHOLD__", f"{threshold:g}")
    return Response(body, mimetype="text/html", headers={"Cache-Control": "no-cache"})


@bp.get(flask(routes.DASHBOARD_ASSET))
def asset(name: str) -> Any:
    if name == "plotly.min.js":
        return send_from_directory(VENDOR, name, max_age=86400)
    return send_from_directory(STATIC, name, max_age=300)

"""/dashboard: the analysts' page. Static files; the page calls the API with the analyst token
the user typed (kept in the browser). Its chart library (plotly.js) is served from the plotly
package installed beside the service: nothing comes from a CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
from flask import Blueprint, send_from_directory

STATIC = Path(__file__).parent / "static"
PLOTLY = Path(plotly.__file__).parent / "package_data"

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
def page() -> Any:
    return send_from_directory(STATIC, "dashboard.html", max_age=0)


@bp.get("/dashboard/assets/<name>")
def asset(name: str) -> Any:
    if name == "plotly.min.js":
        return send_from_directory(PLOTLY, name, max_age=86400)
    return send_from_directory(STATIC, name, max_age=300)

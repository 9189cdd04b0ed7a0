"""What the web servers import: `app`, the Flask app as a WSGI callable (gunicorn, the measured
alternative), and `rsgi`, the same app behind the adapter that Granian serves
(web/serving/serve.py, the Procfile's web), which keeps clients' waiting off the threads that
run it (web/serving/rsgi.py)."""

from typing import Any

import logs
from settings import get_settings
from web import routes
from web.api.efficiency_cache import METERS, VEHICLES
from web.app import create_app
from web.auth import bearer
from web.services import services
from web.serving.rsgi import RsgiAdapter

settings = get_settings()
logs.configure(settings)
app = create_app(settings)
_credentials = services(app).credentials
_efficiency = services(app).efficiency_cache
# 24 h answers kept in memory, by the path before the device's ID.
_CACHED = ((f"{routes.VEHICLES}/", VEHICLES), (f"{routes.METERS}/", METERS))


def quick(scope: Any) -> bool:
    """Requests that will not wait on PostgreSQL, run on the event loop: the liveness probe,
    ingest unless its per-device token must first be looked up, and a vehicle's or a meter's
    24 h figures when this process has them in memory."""
    path = scope.path
    if path == routes.HEALTHZ:
        return True
    if path == routes.INGEST:
        return not _credentials.must_look_up(bearer(scope.headers.get("authorization")))
    if scope.method != "GET" or scope.query_string:
        return False
    for prefix, source in _CACHED:
        if path.startswith(prefix):
            device_id = path[len(prefix) :]
            return "/" not in device_id and _efficiency.in_memory(source, device_id)
    return False


rsgi = RsgiAdapter(
    app,
    threads=settings.web_threads,
    max_body_bytes=settings.max_body_bytes,
    body_timeout_seconds=settings.body_timeout_seconds,
    quick=quick,
)

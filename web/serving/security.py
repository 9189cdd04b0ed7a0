"""Browser-facing headers. The dashboard keeps the analyst token in localStorage, so its pages
(and the API docs beside them) run only their own scripts and cannot be framed by another site."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache

from flask import Flask, Response, request

from web import routes

PAGES = (routes.DASHBOARD, routes.DOCS)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def register(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith(PAGES):
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Referrer-Policy"] = "no-referrer"
            if response.mimetype == "text/html":
                # A page sent as a file (the dashboard) has no inline script to allow.
                page = b"" if response.direct_passthrough else response.get_data()
                response.headers["Content-Security-Policy"] = policy(page)
        return response


@cache
def policy(page: bytes) -> str:
    """Scripts from this origin only, plus the page's own inline scripts by hash (Swagger UI
    starts from one); anything injected into a page would match no hash and not run."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}".rstrip()
        + "; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )

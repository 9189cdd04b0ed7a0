"""Every error is JSON with a machine-readable `error` and a sentence for a human."""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


Reply = tuple[dict[str, str], int, dict[str, str]]


def error(code: str, message: str, status: int, retry_after: int | None = None) -> Reply:
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return {"error": code, "message": message}, status, headers


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Reply:
        status = exc.code or 500
        if status == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            return error("body_too_large", f"The body is over the {limit}-byte limit.", 413)
        code = (exc.name or "error").lower().replace(" ", "_")
        return error(code, exc.description or exc.name, status)

    @app.errorhandler(DBAPIError)
    def database_unavailable(exc: DBAPIError) -> Reply:
        log.warning("event=database_error error=%r", " ".join(str(exc.orig).split())[:200])
        return error("unavailable", "The database is not reachable; try again shortly.", 503, 5)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Reply:
        log.exception("event=unhandled_error")
        return error("internal_error", "Something failed on our side; it has been logged.", 500)

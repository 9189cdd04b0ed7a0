"""Every error is JSON with a machine-readable `error` and a sentence for a human."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from devices.cache import CredentialsUnavailable
from readings.fields import ID_RE, ID_RULE
from web.services import services

log = logging.getLogger(__name__)


# SQLSTATE of a statement cancelled by statement_timeout.
QUERY_CANCELED = "57014"

Reply = tuple[dict[str, Any], int, dict[str, str]]


def error(
    code: str, message: str, status: int, retry_after: int | None = None, **extra: Any
) -> Reply:
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return {"error": code, "message": message, **extra}, status, headers


def invalid_query(messages: Any) -> Reply:
    """A query string marshmallow refused: its messages per parameter."""
    return error("invalid_query", "Invalid query.", 400, fields=messages)


def invalid_id(name: str, value: str) -> Reply | None:
    """400 for a device ID in a path that no device can have; None for a good one."""
    if ID_RE.fullmatch(value):
        return None
    return error("invalid_id", f"{name} must be {ID_RULE}.", 400)


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Reply:
        status = exc.code or 500
        if status == 413:
            limit = services(app).settings.max_body_bytes
            return error(
                "body_too_large",
                f"The body is over the {limit}-byte limit (counted uncompressed).",
                413,
            )
        code = (exc.name or "error").lower().replace(" ", "_")
        return error(code, exc.description or exc.name, status)

    # Only a lost or refused connection means "not reachable"; any other database error is ours
    # (client input is validated before it reaches a query) and answered as one.
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(exc: DBAPIError) -> Reply:
        if getattr(exc.orig, "pgcode", None) == QUERY_CANCELED:
            seconds = services(app).settings.history_timeout_seconds
            return error(
                "query_timeout",
                f"The query ran past {seconds:g} s (HISTORY_TIMEOUT_SECONDS) and was stopped; ask "
                "for a shorter window.",
                503,
            )
        log.warning("event=database_error error=%r", " ".join(str(exc.orig).split())[:200])
        return error("unavailable", "The database is not reachable; try again shortly.", 503, 5)

    @app.errorhandler(CredentialsUnavailable)
    def credentials_unavailable(exc: CredentialsUnavailable) -> Reply:
        log.warning("event=credentials_unavailable error=%r", str(exc)[:200])
        return error(
            "unavailable",
            "This token cannot be checked now (the database and the buffer are both away); "
            "retry after the delay given.",
            503,
            5,
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Reply:
        log.exception("event=unhandled_error")
        return error("internal_error", "Something failed on our side; it has been logged.", 500)

"""A request id for every request (the caller's X-Request-ID if sane, else a new one), echoed in
the response and in every log line the request causes, and one log line per request."""

from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask, Response, g, request

import logs
import metrics

log = logging.getLogger("ev.web")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def register(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _SANE.fullmatch(given) else secrets.token_hex(8)
        g.request_token = logs.request_id.set(g.request_id)
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        rid = g.get("request_id")
        if rid is None:
            return response
        response.headers["X-Request-ID"] = rid
        seconds = time.perf_counter() - g.started
        # The route, so a path a client makes up cannot add a series.
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        metrics.REQUEST_SECONDS.labels(method, rule, response.status_code).observe(seconds)
        # The path only: query strings may carry cursors, never headers (tokens live there).
        log.info(
            "event=request method=%s path=%s status=%d ms=%.1f bytes=%s",
            request.method,
            request.path,
            response.status_code,
            seconds * 1000,
            response.content_length or 0,
        )
        return response

    @app.teardown_request
    def _forget(_: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            logs.request_id.reset(token)

"""HTTP caching for analytics: the data changes only when the refresh runs, so a response is
fresh until the next refresh is due and revalidates cheaply (ETag / Last-Modified, 304)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, request
from werkzeug.wrappers import Response as BaseResponse

from web.contract.responses import encode
from web.services import services


def conditional(body: Any, refreshed_at: datetime, status: int = 200) -> BaseResponse:
    return encoded_conditional(*encode(body), refreshed_at, status)


def encoded_conditional(
    payload: bytes, etag: str, refreshed_at: datetime, status: int = 200
) -> BaseResponse:
    response = Response(payload, status=status, mimetype="application/json")
    response.set_etag(etag)
    response.last_modified = refreshed_at
    period = timedelta(seconds=services().settings.refresh_seconds)
    left = (refreshed_at + period - datetime.now(UTC)).total_seconds()
    # private: answers depend on an analyst's token, so shared caches must not keep them.
    response.cache_control.private = True
    response.cache_control.max_age = max(0, int(left))
    return response.make_conditional(request)

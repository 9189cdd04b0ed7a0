"""GET /v1/<kind>s/<id>/readings for every kind: a device's raw history, as JSON
pages (a cursor for the next) or, with `Accept: text/csv`, the whole window streamed as CSV.

History is keyed by time first, so reading one device scans every device's readings of the
window: a window is at most HISTORY_MAX_DAYS, and every query of the API at most
QUERY_TIMEOUT_SECONDS (storage/db.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from flask import Blueprint, Response, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.kinds import KINDS, Kind
from readings import history
from readings.fields import UtcMoment
from readings.records import iso_z
from storage import db
from web import routes
from web.auth import ANALYST, require
from web.contract import csv_export, cursors, responses
from web.errors import Reply, error, invalid_id, invalid_query
from web.routes import flask
from web.services import services

bp = Blueprint("history", __name__)

DEFAULT_SPAN = timedelta(hours=24)
# Readings a CSV export reads from PostgreSQL at a time: what one request holds in memory.
CSV_PAGE = 5_000


def csv_columns(kind: Kind) -> tuple[str, ...]:
    """The device's ID, then a reading as the JSON pages show it."""
    return (kind.id_wire, "timestamp", *kind.ref_wires, *kind.wire_fields[1 + len(kind.refs) :])


class HistoryQuery(Schema):
    """The query of a history read; the OpenAPI document shows these fields as its parameters."""

    start = UtcMoment(
        data_key="from",
        metadata={
            "description": "Start, inclusive (ISO 8601 with a zone); default 24 h before to."
        },
    )
    end = UtcMoment(
        data_key="to",
        metadata={
            "description": "End, exclusive; default now, or from + HISTORY_MAX_DAYS when that "
            "is earlier."
        },
    )
    limit = fields.Integer(
        load_default=1000,
        validate=validate.Range(min=1, max=10_000),
        metadata={"description": "Page size (JSON only)."},
    )
    cursor = fields.String(metadata={"description": "nextCursor of the previous page."})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "end" in data and data["start"] >= data["end"]:
            raise ValidationError("Must be after 'from'.", "to")


QUERY = HistoryQuery()


def _history(kind: Kind, device_id: str) -> Any:
    ask = asked(kind.id_wire, device_id, "history")
    if not isinstance(ask, Asked):
        return ask
    args, start, end = ask
    if csv_export.wanted():
        return _csv(kind, device_id, start, end)
    after = None
    if "cursor" in args:
        after = cursors.decode_moment(args["cursor"])
        if after is None:
            return error("invalid_cursor", "The cursor is not one this listing gave.", 400)
    limit = args["limit"]
    rows = db.read(services().engine, partial(_page, kind, device_id, start, end, after, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        kind.id_wire: device_id,
        "from": iso_z(start),
        "to": iso_z(end),
        "readings": [responses.reading(kind, row) for row in rows],
        "nextCursor": cursors.encode(rows[-1]["recorded_at"].isoformat()) if more else None,
    }


class Asked(NamedTuple):
    """A device's read as asked: its query, and its window [start, end)."""

    args: dict[str, Any]
    start: datetime
    end: datetime


def asked(id_wire: str, device_id: str, what: str) -> Asked | Reply:
    """A device's read (history, samples, signed values) as the request asks it: a valid ID and
    query, a window of 24 h to now unless asked, at most HISTORY_MAX_DAYS; else the error
    answer."""
    if (bad := invalid_id(id_wire, device_id)) is not None:
        return bad
    try:
        args = QUERY.load(request.args.to_dict())
    except ValidationError as exc:
        return invalid_query(exc.messages)
    start, end, refused = _window(args, what)
    return Asked(args, start, end) if refused is None else refused


def _window(args: dict[str, Any], what: str) -> tuple[datetime, datetime, Reply | None]:
    longest = services().settings.history_max_days
    end = args.get("end") or default_end(args.get("start"), timedelta(days=longest))
    try:
        start = args.get("start") or end - DEFAULT_SPAN
    except OverflowError:
        return (
            end,
            end,
            error("invalid_query", "'to' is too early for the default 24 h before it.", 400),
        )
    if start >= end:
        return (
            start,
            end,
            error("invalid_query", "'from' must come before 'to' (default: now).", 400),
        )
    if end - start > timedelta(days=longest):
        return (
            start,
            end,
            error(
                "window_too_long",
                f"A {what} read covers at most {longest} days (HISTORY_MAX_DAYS); ask for the "
                "window in parts.",
                400,
            ),
        )
    return start, end, None


def default_end(start: datetime | None, longest: timedelta) -> datetime:
    """Without `to`: now, or, for a `from` further back than a read may cover (`longest`), the
    end of the longest read from it (the next read starts there). Sessions' reads too."""
    now = datetime.now(UTC)
    if start is None:
        return now
    try:
        return min(now, start + longest)
    except OverflowError:
        return now


def _csv(kind: Kind, device_id: str, start: datetime, end: datetime) -> Response:
    engine = services().engine

    def rows() -> Iterator[dict[str, Any]]:
        after = None
        while True:
            page = db.read(engine, partial(_page, kind, device_id, start, end, after, CSV_PAGE))
            for row in page:
                yield {kind.id_wire: device_id, **responses.reading(kind, row)}
            if len(page) < CSV_PAGE:
                return
            after = page[-1]["recorded_at"]

    filename = f"{kind.name}-{device_id}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
    return csv_export.attachment(csv_export.lines(csv_columns(kind), rows()), filename)


def _page(
    kind: Kind,
    device_id: str,
    start: datetime,
    end: datetime,
    after: datetime | None,
    limit: int,
    conn: Any,
) -> list[Any]:
    timeout = services().settings.history_timeout_seconds
    return history.page(conn, kind, device_id, start, end, limit, after, timeout)


for _kind in KINDS:
    # The rule (`<device_id>`) is also the route's label in the metrics.
    bp.add_url_rule(
        flask(routes.readings(_kind), **{_kind.id_wire: "device_id"}),
        endpoint=f"{_kind.name}_readings",
        view_func=require(ANALYST)(partial(_history, _kind)),
    )

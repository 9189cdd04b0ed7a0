"""Chargers' availability, from what they said about themselves and when they were heard
(devices/availability.py): GET /v1/meters/<meterId>/availability, a connector's
(`<chargePointId>:<n>`) or a charger's (`<chargePointId>`) uptime ratio, seconds in each state
and outages over a window (with `Accept: text/csv`, the outages); GET /v1/analytics/availability,
every connector worst first with its last status, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from devices import availability
from models.kinds import METER
from readings.fields import UtcMoment
from readings.records import iso_z
from storage import db
from web import routes
from web.auth import ANALYST, require
from web.contract import csv_export, cursors
from web.errors import Reply, error, invalid_id, invalid_query
from web.routes import flask
from web.services import services

bp = Blueprint("availability", __name__)

DEFAULT_SPAN = timedelta(hours=24)
LONGEST = timedelta(days=366)
OUTAGE_COLUMNS = ("meterId", "start", "end", "kind", "errorCode", "vendorErrorCode", "info")


class AvailabilityQuery(Schema):
    """The window; the OpenAPI document shows these fields as its parameters."""

    start = UtcMoment(
        data_key="from",
        metadata={
            "description": "Start, inclusive (ISO 8601 with a zone); default 24 h before to."
        },
    )
    end = UtcMoment(
        data_key="to",
        metadata={"description": "End, exclusive; default now. Seconds past now are unknown."},
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "end" in data and data["start"] >= data["end"]:
            raise ValidationError("Must be after 'from'.", "to")


QUERY = AvailabilityQuery()


class ConnectorsQuery(AvailabilityQuery):
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Connectors per page."},
    )
    cursor = fields.String(metadata={"description": "nextCursor of the previous page."})


CONNECTORS_QUERY = ConnectorsQuery()
# Where a connector whose state is not known at all sorts: after every known ratio.
_UNKNOWN_LAST = 2.0


def _window(args: dict[str, Any], now: datetime) -> tuple[datetime, datetime, Reply | None]:
    """The window asked for, and the error answer when it is not one."""
    end = args.get("end") or now
    start = args.get("start") or end - DEFAULT_SPAN
    if start >= end:
        return (
            start,
            end,
            error("invalid_query", "'from' must come before 'to' (default: now).", 400),
        )
    if end - start > LONGEST:
        return start, end, error("window_too_long", "An availability covers at most 366 days.", 400)
    return start, end, None


@bp.get(flask(routes.availability(METER), **{METER.id_wire: "meter_id"}))
@require(ANALYST)
def meter_availability(meter_id: str) -> Any:
    if (bad := invalid_id(METER.id_wire, meter_id)) is not None:
        return bad
    try:
        args = QUERY.load(request.args.to_dict())
    except ValidationError as exc:
        return invalid_query(exc.messages)
    now = datetime.now(UTC)
    start, end, refused = _window(args, now)
    if refused:
        return refused
    silence = services().settings.ocpp_silence

    def read(conn: Any) -> availability.Availability | None:
        if not availability.known(conn, meter_id):
            return None
        return availability.availability(conn, meter_id, start, end, silence, now)

    found = db.read(services().engine, read)
    if found is None:
        return error(
            "not_found",
            f"Charger of meter {meter_id} has never said its status nor connected.",
            404,
        )
    outages = [_outage(meter_id, outage) for outage in found.outages]
    if csv_export.wanted():
        filename = f"availability-{meter_id}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
        return csv_export.attachment(csv_export.lines(OUTAGE_COLUMNS, iter(outages)), filename)
    seconds = found.seconds
    return {
        "meterId": meter_id,
        "from": iso_z(start),
        "to": iso_z(end),
        "uptimeRatio": found.uptime_ratio,
        **{f"{state}Seconds": seconds[state] for state in availability.KINDS},
        "outages": [{k: v for k, v in outage.items() if k != "meterId"} for outage in outages],
    }


def _outage(meter_id: str, outage: availability.Outage) -> dict[str, Any]:
    view = outage.view()
    return {"meterId": meter_id, **view, "start": iso_z(view["start"]), "end": iso_z(view["end"])}


@bp.get(routes.CONNECTORS)
@require(ANALYST)
def connectors() -> Any:
    try:
        args = CONNECTORS_QUERY.load(request.args.to_dict())
    except ValidationError as exc:
        return invalid_query(exc.messages)
    now = datetime.now(UTC)
    start, end, refused = _window(args, now)
    if refused:
        return refused
    after = None
    if "cursor" in args:
        after = cursors.decode(args["cursor"])
        if not (
            isinstance(after, list)
            and len(after) == 2
            and isinstance(after[0], int | float)
            and isinstance(after[1], str)
        ):
            return error("invalid_cursor", "The cursor is not one this listing gave.", 400)
    silence = services().settings.ocpp_silence
    found = db.read(
        services().engine, lambda conn: availability.fleet(conn, start, end, silence, now)
    )
    ranked = sorted((_rank(item), item) for item in found)
    if after is not None:
        ranked = [(key, item) for key, item in ranked if key > (after[0], after[1])]
    page = ranked[: args["limit"]]
    more = len(ranked) > len(page)
    return {
        "from": iso_z(start),
        "to": iso_z(end),
        "items": [_item(item) for _, item in page],
        "nextCursor": cursors.encode(list(page[-1][0])) if more else None,
    }


def _rank(item: availability.Availability) -> tuple[float, str]:
    ratio = item.uptime_ratio
    return (_UNKNOWN_LAST if ratio is None else ratio, item.meter_id)


def _item(item: availability.Availability) -> dict[str, Any]:
    last = item.last
    return {
        "meterId": item.meter_id,
        "uptimeRatio": item.uptime_ratio,
        **{f"{state}Seconds": item.seconds[state] for state in availability.KINDS},
        "outages": len(item.outages),
        "status": last.status if last else None,
        "statusAt": iso_z(last.at) if last else None,
    }

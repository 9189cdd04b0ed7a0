"""GET /v1/meters/<meterId>/availability: a connector's (`<chargePointId>:<n>`) or a charger's
(`<chargePointId>`) availability over a window, from what the charger said about itself and when
it was heard (devices/availability.py): the uptime ratio, the seconds in each state and the
outages; with `Accept: text/csv`, the outages as CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, request
from marshmallow import Schema, ValidationError, validates_schema

from devices import availability
from models.kinds import METER
from readings.fields import UtcMoment
from readings.records import iso_z
from storage import db
from web import routes
from web.auth import ANALYST, require
from web.contract import csv_export
from web.errors import error, invalid_id, invalid_query
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
    end = args.get("end") or now
    start = args.get("start") or end - DEFAULT_SPAN
    if start >= end:
        return error("invalid_query", "'from' must come before 'to' (default: now).", 400)
    if end - start > LONGEST:
        return error("window_too_long", "An availability covers at most 366 days.", 400)
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

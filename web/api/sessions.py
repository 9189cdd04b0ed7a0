"""A vehicle's or a meter's charging sessions (efficiency/sessions.py): JSON pages oldest first, or
with `Accept: text/csv` every session of the window."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from flask import Blueprint, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import Connection

from efficiency import formula, sessions
from models.kinds import METER, VEHICLE, Kind
from readings import signed
from readings.fields import ID_RE, UtcMoment
from readings.records import iso_z
from storage import db
from web import routes
from web.api.history import default_end
from web.api.signed_values import judged
from web.auth import ANALYST, require
from web.contract import csv_export, cursors
from web.errors import error, invalid_id, invalid_query
from web.routes import flask
from web.services import services

bp = Blueprint("sessions", __name__)

DEFAULT_SPAN = timedelta(days=7)
LONGEST = timedelta(days=400)
FIELDS = (
    "vehicleId",
    "meterId",
    "start",
    "end",
    "minutesSeen",
    "minutesCounted",
    "coverage",
    "acConsumedKwh",
    "dcDeliveredKwh",
    "chargingEfficiency",
    "energyLostKwh",
    "socStart",
    "socEnd",
    "suspectMinutes",
    "transactionId",
    "idTag",
    "transactionEnergyKwh",
)


class SessionsQuery(Schema):
    """The sessions' query; the OpenAPI document shows these fields as its parameters."""

    start = UtcMoment(
        data_key="from",
        metadata={
            "description": "Sessions starting at or after (ISO 8601); default 7 days before to."
        },
    )
    end = UtcMoment(
        data_key="to",
        metadata={
            "description": "Sessions starting before; default now, or from + 400 days when "
            "that is earlier."
        },
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Page size (JSON only)."},
    )
    cursor = fields.String(metadata={"description": "nextCursor of the previous page."})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "end" in data and data["start"] >= data["end"]:
            raise ValidationError("Must be after 'from'.", "to")


QUERY = SessionsQuery()


def item(row: Any) -> dict[str, Any]:
    """A session as the API shows it: what its vehicle's kept minutes on its meter sum to; a
    charger's transaction without a vehicle has no SOC and no kept minute."""
    ac, dc = Decimal(row["ac_kwh"] or 0), Decimal(row["dc_kwh"] or 0)
    start_soc, end_soc, registered = (
        row["start_soc_hundredths"],
        row["end_soc_hundredths"],
        row["transaction_kwh"],
    )
    return {
        "vehicleId": row["vehicle_id"],
        "meterId": row["meter_id"],
        "start": iso_z(row["start_at"]),
        "end": iso_z(row["end_at"]),
        "minutesSeen": row["seen"],
        "minutesCounted": row["minutes"],
        "coverage": row["minutes"] / row["seen"] if row["seen"] else None,
        "acConsumedKwh": float(ac),
        "dcDeliveredKwh": float(dc),
        "chargingEfficiency": formula.ratio(ac, dc),
        "energyLostKwh": float(ac - dc),
        "socStart": None if start_soc is None else start_soc / 100,
        "socEnd": None if end_soc is None else end_soc / 100,
        "suspectMinutes": row["suspect_minutes"] or 0,
        "transactionId": row["transaction_id"],
        "idTag": row["id_tag"],
        "transactionEnergyKwh": None if registered is None else float(registered),
    }


def _sessions(kind: Kind, device_id: str) -> Any:
    if (bad := invalid_id(kind.id_wire, device_id)) is not None:
        return bad
    try:
        args = QUERY.load(request.args.to_dict())
    except ValidationError as exc:
        return invalid_query(exc.messages)
    end = args.get("end") or default_end(args.get("start"), LONGEST)
    earliest = sessions.FIRST[0] + DEFAULT_SPAN
    start = args.get("start") or (end - DEFAULT_SPAN if end > earliest else sessions.FIRST[0])
    if start >= end:
        return error("invalid_query", "'from' must come before 'to' (default: now).", 400)
    if end - start > LONGEST:
        return error("window_too_long", f"Ask for at most {LONGEST.days} days at a time.", 400)
    after = sessions.FIRST
    if "cursor" in args:
        decoded = _decode(args["cursor"])
        if decoded is None:
            return error("invalid_cursor", "The cursor is not one this listing gave.", 400)
        after = decoded
    by = f"{kind.name}_id"
    read = partial(sessions.page, by=by, device_id=device_id, start=start, end=end, after=after)
    if csv_export.wanted():
        rows = db.read(services().engine, lambda conn: read(conn, limit=None))
        name = f"{kind.name}-{device_id}-sessions-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
        return csv_export.attachment(csv_export.lines(FIELDS, map(item, rows)), name)
    limit = args["limit"]

    def page(conn: Connection) -> tuple[list[Any], list[dict[str, Any]]]:
        rows = read(conn, limit=limit + 1)
        return rows, _with_signed_values(conn, rows[:limit])

    rows, items = db.read(services().engine, page)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    other = "meter_id" if kind is VEHICLE else "vehicle_id"
    return {
        kind.id_wire: device_id,
        "from": iso_z(start),
        "to": iso_z(end),
        "sessions": items,
        "nextCursor": _encode(last, other) if last else None,
    }


def _with_signed_values(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """The sessions as shown, each with the signed meter values its transaction carried (one
    read for the page)."""
    keyed = [(row["meter_id"], row["transaction_id"]) for row in rows if row["transaction_id"]]
    kept = [
        (key, value)
        for key, values in signed.of_transactions(conn, keyed).items()
        for value in values
    ]
    by_transaction: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (key, _), value in zip(kept, judged(conn, [v for _, v in kept]), strict=True):
        by_transaction.setdefault(key, []).append(value)
    return [
        {
            **item(row),
            "signedValues": by_transaction.get((row["meter_id"], row["transaction_id"]), []),
        }
        for row in rows
    ]


def _encode(last: Any, other: str) -> str:
    # A charger's transaction without a vehicle sorts before its vehicles' sessions that start
    # at the same moment, as the empty ID.
    return cursors.encode([last["start_at"].isoformat(), last[other] or ""])


def _decode(cursor: str) -> tuple[datetime, str] | None:
    held = cursors.decode(cursor)
    if not isinstance(held, list) or len(held) != 2:
        return None
    moment, other = held
    if not isinstance(other, str) or not (other == "" or ID_RE.fullmatch(other)):
        return None
    at = cursors.decode_moment(cursors.encode(moment))
    return None if at is None else (at, other)


for _kind in (VEHICLE, METER):
    bp.add_url_rule(
        flask(routes.sessions(_kind), **{_kind.id_wire: "device_id"}),
        endpoint=f"{_kind.name}_sessions",
        view_func=require(ANALYST)(partial(_sessions, _kind)),
    )

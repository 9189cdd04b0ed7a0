"""Analytics over the refreshed 24 h tables: one vehicle, its hours and days, and the fleet by
pages; the views' shared steps, which web/api/meters.py uses for meters."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from flask import Blueprint, request
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from efficiency import fleet
from models.kinds import VEHICLE, Kind
from readings import current_state
from readings.fields import ID_RE, UtcMoment
from readings.records import iso_z
from storage import db
from web import routes
from web.api import efficiency_cache
from web.auth import ANALYST, require
from web.contract import csv_export, cursors, responses
from web.contract.caching import conditional, encoded_conditional
from web.errors import error, invalid_id, invalid_query
from web.routes import flask
from web.services import services

bp = Blueprint("analytics", __name__)

NO_DATA = "No charging data found in last 24 hours"
NO_DATA_IN_WINDOW = "No charging data found in this window (as of the last refresh)"
NOT_REFRESHED = "The performance table has not been refreshed yet"


def _about(description: str) -> dict[str, Any]:
    return {"metadata": {"description": description}}


class ListQuery(Schema):
    """The fleet listing's query; the OpenAPI document shows these fields as its parameters."""

    sort = fields.String(
        load_default="chargingEfficiency",
        validate=validate.OneOf([*fleet.SORTS, *fleet.SORT_ALIASES]),
        **_about(
            "The field to sort by; ties broken by vehicleId. efficiency, acConsumedKwh and "
            "dcDeliveredKwh, the older names of the first three, still work."
        ),
    )
    order = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]))
    limit = fields.Integer(
        load_default=100, validate=validate.Range(min=1, max=1000), **_about("Vehicles per page.")
    )
    maxEfficiency = fields.Float(validate=validate.Range(min=0), **_about("Only at or under."))
    minEfficiency = fields.Float(validate=validate.Range(min=0), **_about("Only at or over."))
    cursor = fields.String(**_about("nextCursor of the previous page."))

    @post_load
    def canonical_sort(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, "sort": fleet.SORT_ALIASES.get(data["sort"], data["sort"])}


LIST_QUERY = ListQuery()


def _engine() -> Any:
    return services().engine


class WindowQuery(Schema):
    """`from`, and `to` (default now): the minutes starting in [from, to) instead of the last
    24 hours."""

    start = UtcMoment(
        data_key="from",
        **_about(
            "The figures over the minutes starting in [from, to) instead of the last 24 hours, "
            "from the same per-minute contributions (ISO 8601 with a zone)."
        ),
    )
    end = UtcMoment(
        data_key="to",
        **_about(
            "End of the window (exclusive; default now, with `from`); minutes after the last "
            "refresh are not counted, and windowEnd says so."
        ),
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if "start" not in data:
            raise ValidationError("Missing data for required field (with 'to', or alone).", "from")
        if data["start"] >= data.get("end", datetime.now(UTC)):
            raise ValidationError("Must be after 'from' (default: now).", "to")


WINDOW_QUERY = WindowQuery()


@bp.get(flask(routes.VEHICLE))
@require(ANALYST)
def vehicle_performance(vehicle_id: str) -> Any:
    if (bad := invalid_id("vehicleId", vehicle_id)) is not None:
        return bad
    if asks_window():
        return _over_window(vehicle_id)
    return cached(efficiency_cache.VEHICLES, VEHICLE, vehicle_id)


def cached(source: efficiency_cache.Source, kind: Kind, device_id: str) -> Any:
    """A device's 24 h figures from this process's memory of the last refresh (or read once)."""
    answer = services().efficiency_cache.answer(source, device_id)
    if answer.payload is None or answer.stamp is None:
        return no_data(kind, device_id, NO_DATA)
    return encoded_conditional(answer.payload, answer.etag, answer.stamp)


def no_data(kind: Kind, device_id: str, message: str) -> Any:
    """The 404 of a device with nothing counted, exactly the seed's body. When readings of it
    arrived after the last refresh, headers say so: `Refresh-Pending` with when the next refresh
    is due, and `Retry-After`, its seconds from now."""
    body, status = responses.no_data(kind, device_id, message)

    def newer(conn: Any) -> tuple[Any, Any]:
        return current_state.newest_at(conn, kind, device_id), fleet.window(conn)

    newest, window = db.read(_engine(), newer)
    if newest is None or (window is not None and newest < window.window_end):
        return body, status
    period = timedelta(seconds=services().settings.refresh_seconds)
    now = datetime.now(UTC)
    due = max(now, window.refreshed_at + period) if window is not None else now + period
    headers = {
        "Refresh-Pending": f"readings up to {iso_z(newest)} not yet counted; next refresh due "
        f"{iso_z(due)}",
        "Retry-After": str(max(1, math.ceil((due - now).total_seconds()))),
    }
    return body, status, headers


def asks_window() -> bool:
    return "from" in request.args or "to" in request.args


def _over_window(vehicle_id: str) -> Any:
    return over_window(
        VEHICLE,
        vehicle_id,
        partial(fleet.read_window, subject=fleet.VEHICLES),
        responses.performance,
    )


def over_window(
    kind: Kind,
    device_id: str,
    read: Callable[[Any, str, Any, Any], Any],
    answer: Callable[[Any], dict[str, Any]],
) -> Any:
    """A device's figures over the window of `from` and `to`."""
    try:
        window = WINDOW_QUERY.load(request.args.to_dict())
    except ValidationError as exc:
        return invalid_query(exc.messages)
    start, end = window["start"], window.get("end") or datetime.now(UTC)
    if (refused := _past_the_minutes(start, end)) is not None:
        return refused
    row = db.read(_engine(), lambda conn: read(conn, device_id, start, end))
    if row is None:
        return no_data(kind, device_id, NO_DATA_IN_WINDOW)
    return conditional(answer(row), row["refreshed_at"])


def _past_the_minutes(start: datetime, end: datetime) -> Any:
    """The 400 of a window with an end in a day whose minutes are gone (past RETENTION_DAYS)
    that is not on a whole hour: only hours are kept that long (efficiency/rollups.py)."""
    retention = services().settings.retention_days
    kept_from = datetime.combine(datetime.now(UTC).date() - timedelta(days=retention), time(), UTC)
    off_hour = [
        name
        for name, moment in (("from", start), ("to", end))
        if moment < kept_from and moment != moment.replace(minute=0, second=0, microsecond=0)
    ]
    if not off_hour:
        return None
    return error(
        "window_not_whole_hours",
        f"Minutes older than RETENTION_DAYS ({retention} days, before {iso_z(kept_from)}) are "
        f"kept only as hourly sums: give {' and '.join(repr(n) for n in off_hour)} on a whole "
        "hour.",
        400,
    )


@bp.get(flask(f"{routes.VEHICLE}/hourly"))
@require(ANALYST)
def vehicle_hourly(vehicle_id: str) -> Any:
    return by_period(VEHICLE, vehicle_id, "hour", lambda conn: fleet.hourly(conn, vehicle_id))


class DailyQuery(Schema):
    days = fields.Integer(
        load_default=7,
        validate=validate.Range(min=1, max=366),
        **_about("UTC days, ending with the day of the last refresh."),
    )


DAILY_QUERY = DailyQuery()


@bp.get(flask(f"{routes.VEHICLE}/daily"))
@require(ANALYST)
def vehicle_daily(vehicle_id: str) -> Any:
    return daily(VEHICLE, vehicle_id, fleet.VEHICLES)


def daily(kind: Kind, device_id: str, subject: fleet.Subject) -> Any:
    try:
        days = DAILY_QUERY.load(request.args.to_dict())["days"]
    except ValidationError as exc:
        return invalid_query(exc.messages)
    return by_period(
        kind, device_id, "day", lambda conn: fleet.daily(conn, device_id, days, subject)
    )


def by_period(kind: Kind, device_id: str, period: str, rows_of: Callable[[Any], list[Any]]) -> Any:
    """A device's figures by hour or day: 404 when it has no kept minute in them."""
    if (bad := invalid_id(kind.id_wire, device_id)) is not None:
        return bad

    def query(conn: Any) -> tuple[Any, list[Any]]:
        return fleet.window(conn), rows_of(conn)

    window, rows = db.read(_engine(), query)
    if window is None or not rows:
        return no_data(kind, device_id, NO_DATA)
    meter = kind is not VEHICLE
    body = {
        kind.id_wire: device_id,
        **responses.window(window._mapping),
        f"{period}s": [responses.period_figures(row, period, meter) for row in rows],
    }
    return conditional(body, window.refreshed_at)


@bp.get(routes.VEHICLES)
@require(ANALYST)
def fleet_performance() -> Any:
    return listing(fleet.VEHICLES, LIST_QUERY, responses.fleet_item)


def listing(subject: fleet.Subject, schema: Schema, item: Callable[[Any], dict[str, Any]]) -> Any:
    """A page of a listing, its query loaded by `schema`."""
    try:
        args = schema.load(request.args.to_dict())
    except ValidationError as exc:
        return invalid_query(exc.messages)
    after = None
    if "cursor" in args:
        after = _decode_cursor(args["cursor"], args["sort"], args["order"])
        if after is None:
            return error("invalid_cursor", "The cursor is not one this listing gave.", 400)
    export = csv_export.wanted()
    page = fleet.Page(
        subject=subject,
        sort=args["sort"],
        descending=args["order"] == "desc",
        # A CSV export is every row from the cursor on, read in one snapshot.
        limit=None if export else args["limit"],
        max_efficiency=args.get("maxEfficiency"),
        min_efficiency=args.get("minEfficiency"),
        after=after,
    )

    def query(conn: Any) -> tuple[Any, list[Any], Any]:
        return fleet.window(conn), *fleet.listing(conn, page)

    if export:
        window, rows, _ = db.read(_engine(), query)
        if window is None:
            return error("not_refreshed", NOT_REFRESHED, 404)
        return _csv(subject, [item(row) for row in rows], responses.window(window._mapping))

    def build() -> efficiency_cache.Answer:
        window, rows, last = db.read(_engine(), query)
        if window is None:
            return efficiency_cache.Answer(None)
        body = {
            **responses.window(window._mapping),
            "items": [item(row) for row in rows],
            "nextCursor": _encode_cursor(last, args["sort"], args["order"]) if last else None,
        }
        return efficiency_cache.Answer(window.refreshed_at, *responses.encode(body))

    # Every analyst asking for a page between two refreshes gets the one built for the first.
    key = f"{subject.table}?{request.query_string.decode()}"
    answer = services().efficiency_cache.page(key, build)
    if answer.payload is None or answer.stamp is None:
        return error("not_refreshed", NOT_REFRESHED, 404)
    return encoded_conditional(answer.payload, answer.etag, answer.stamp)


def _csv(subject: fleet.Subject, items: list[dict[str, Any]], window: dict[str, str]) -> Any:
    """The listing as CSV: an item's fields, then the window's, one row per device."""
    fields_ = responses.VEHICLE_FIELDS if subject is fleet.VEHICLES else responses.METER_FIELDS
    columns = [*fields_, *responses.WINDOW_FIELDS]
    rows = ({**item, **window} for item in items)
    kind = subject.table.split("_", 1)[0]
    stamp = window["refreshedAt"].replace(":", "").replace("-", "")
    return csv_export.attachment(csv_export.lines(columns, rows), f"{kind}s-{stamp}.csv")


def _encode_cursor(last: tuple[str | None, str], sort: str, order: str) -> str:
    return cursors.encode([sort, order, last[0], last[1]])


def _decode_cursor(cursor: str, sort: str, order: str) -> tuple[str | None, str] | None:
    """The position a cursor holds, or None when it is not one of this sort and order. Whatever
    a client crafts is checked as strictly as what the listing itself wrote: a device id by the
    ID rule, a sort value as a decimal numeric can hold."""
    held = cursors.decode(cursor)
    if not isinstance(held, list) or len(held) != 4:
        return None
    c_sort, c_order, value, vehicle_id = held
    # A cursor written under a sort's older name goes on under its new one.
    c_sort = fleet.SORT_ALIASES.get(c_sort, c_sort) if isinstance(c_sort, str) else c_sort
    if (c_sort, c_order) != (sort, order) or not isinstance(vehicle_id, str):
        return None
    if not ID_RE.fullmatch(vehicle_id):
        return None
    if value is not None and not _is_sort_value(value):
        return None
    return value, vehicle_id


def _is_sort_value(value: Any) -> bool:
    # 'Infinity' is what efficiency sorts by for a vehicle with no AC; NaN sorts nowhere.
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    if number.is_infinite():
        return number > 0
    return number.is_finite() and abs(number.adjusted()) <= 30

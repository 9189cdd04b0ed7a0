"""Analytics of meters (chargers): a meter's figures over the last 24 hours or any window, by
hour and by day, and the meters by pages. The same rule and the same per-minute contributions as
the vehicles' (docs/DESIGN.md, "Chargers"); summed over a meter's vehicles, its figures are the
vehicles' own for their minutes on it."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint
from marshmallow import fields, validate

from efficiency import fleet
from models.kinds import METER
from web import routes
from web.api import efficiency_cache, vehicles
from web.auth import ANALYST, require
from web.contract import responses
from web.errors import invalid_id
from web.routes import flask

bp = Blueprint("meter_analytics", __name__)


class MeterListQuery(vehicles.ListQuery):
    """The meters' listing query: the vehicles' one, sorted by a meter's fields."""

    sort = fields.String(
        load_default="chargingEfficiency",
        validate=validate.OneOf([*fleet.METERS.sorts, *fleet.SORT_ALIASES]),
        metadata={"description": "The field to sort by; ties broken by meterId."},
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Meters per page."},
    )


METER_LIST_QUERY = MeterListQuery()


@bp.get(flask(routes.METER))
@require(ANALYST)
def meter_performance(meter_id: str) -> Any:
    if (bad := invalid_id(METER.id_wire, meter_id)) is not None:
        return bad
    if vehicles.asks_window():
        return vehicles.over_window(
            METER,
            meter_id,
            partial(fleet.read_window, subject=fleet.METERS),
            responses.meter_performance,
        )
    return vehicles.cached(efficiency_cache.METERS, METER, meter_id)


@bp.get(flask(f"{routes.METER}/hourly"))
@require(ANALYST)
def meter_hourly(meter_id: str) -> Any:
    return vehicles.by_period(
        METER, meter_id, "hour", lambda conn: fleet.hourly(conn, meter_id, fleet.METERS)
    )


@bp.get(flask(f"{routes.METER}/daily"))
@require(ANALYST)
def meter_daily(meter_id: str) -> Any:
    return vehicles.daily(METER, meter_id, fleet.METERS)


@bp.get(routes.METERS)
@require(ANALYST)
def meters_listing() -> Any:
    return vehicles.listing(fleet.METERS, METER_LIST_QUERY, responses.meter_item)

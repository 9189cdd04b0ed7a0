"""GET /v1/meters/<meterId>/samples: what a charger's connector measured besides energy (power,
current, voltage, frequency, SoC, temperature: readings/samples.py), oldest first, in JSON pages
or, with `Accept: text/csv`, the whole window as CSV. Values are exact decimals, in the unit each
measurand is kept in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any

from flask import Blueprint

from models.kinds import METER
from readings import samples
from readings.records import iso_z
from storage import db
from web import routes
from web.api.history import Asked, asked
from web.auth import ANALYST, require
from web.contract import csv_export, cursors
from web.errors import error
from web.routes import flask
from web.services import services

bp = Blueprint("samples", __name__)

CSV_PAGE = 5_000
COLUMNS = ("meterId", "timestamp", "measurand", "phase", "location", "context", "value", "unit")


@bp.get(flask(routes.samples(METER), **{METER.id_wire: "meter_id"}))
@require(ANALYST)
def meter_samples(meter_id: str) -> Any:
    ask = asked(METER.id_wire, meter_id, "samples")
    if not isinstance(ask, Asked):
        return ask
    args, start, end = ask
    if csv_export.wanted():
        name = f"samples-{meter_id}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
        every = _all(meter_id, start, end)
        return csv_export.attachment(csv_export.lines(COLUMNS, every), name)
    after = None
    if "cursor" in args:
        after = _after(args["cursor"])
        if after is None:
            return error("invalid_cursor", "The cursor is not one this listing gave.", 400)
    limit = args["limit"]
    rows = db.read(
        services().engine,
        lambda conn: samples.page(conn, meter_id, start, end, limit + 1, after),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {
        "meterId": meter_id,
        "from": iso_z(start),
        "to": iso_z(end),
        "samples": [_shown(row) for row in rows],
        "nextCursor": cursors.encode(
            [last["at"].isoformat(), last["measurand"], last["phase"], last["location"]]
        )
        if more and last
        else None,
    }


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "timestamp": iso_z(row["at"]),
        "measurand": row["measurand"],
        "phase": row["phase"] or None,
        "location": row["location"] or None,
        "context": row["context"] or None,
        "value": row["value"],
        "unit": samples.UNITS.get(row["measurand"]),
    }


def _after(cursor: str) -> tuple[datetime, str, str, str] | None:
    held = cursors.decode(cursor)
    if not (isinstance(held, list) and len(held) == 4 and all(isinstance(x, str) for x in held)):
        return None
    moment = cursors.decode_moment(cursors.encode(held[0]))
    return None if moment is None else (moment, held[1], held[2], held[3])


def _page(
    meter_id: str, start: datetime, end: datetime, after: Any, conn: Any
) -> list[dict[str, Any]]:
    return samples.page(conn, meter_id, start, end, CSV_PAGE, after)


def _all(meter_id: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    engine = services().engine
    after = None
    while True:
        page = db.read(engine, partial(_page, meter_id, start, end, after))
        for row in page:
            yield {"meterId": meter_id, **_shown(row)}
        if len(page) < CSV_PAGE:
            return
        last = page[-1]
        after = (last["at"], last["measurand"], last["phase"], last["location"])

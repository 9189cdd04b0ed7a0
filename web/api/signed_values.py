"""Chargers' signed meter values as the API shows them (readings/signed.py): each byte for byte
as sent, with `signatureValid` (true, false, or null with the reason) against the meter's key,
and, for a valid one, the reading it signs beside the one sent unsigned. Served on the sessions
of their transaction (web/api/sessions.py) and, a meter's window at a time, by GET
/v1/meters/<meterId>/signed-values in JSON pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint
from sqlalchemy import Connection

from models.kinds import METER
from readings import signed
from readings.records import iso_z
from storage import db
from web import routes
from web.api.history import Asked, asked
from web.auth import ANALYST, require
from web.contract import cursors
from web.errors import error
from web.routes import flask
from web.services import services

bp = Blueprint("signed_values", __name__)


def shown(judged: signed.Judged) -> dict[str, Any]:
    row, verdict = judged.row, judged.verdict
    return {
        "meterId": row["meter_id"],
        "timestamp": iso_z(row["at"]),
        "context": row["context"],
        "measurand": row["measurand"],
        "transactionId": row["transaction_id"],
        "signedData": row["signed_data"],
        "signingMethod": row["signing_method"],
        "encodingMethod": row["encoding_method"],
        "publicKey": row["public_key"],
        "signatureValid": verdict.valid,
        "signatureAlgorithm": verdict.algorithm,
        "reason": verdict.reason,
        "signedKwh": judged.signed_kwh,
        "unsignedKwh": row["unsigned_kwh"],
        "matchesUnsigned": judged.matches_unsigned,
    }


def judged(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of charger_signed_values as shown, each judged against its meter's key now."""
    rows = list(rows)
    keys = signed.keys_for(conn, {row["meter_id"] for row in rows}) if rows else {}
    return [shown(j) for j in signed.judge(rows, keys)]


@bp.get(flask(routes.signed_values(METER), **{METER.id_wire: "meter_id"}))
@require(ANALYST)
def meter_signed_values(meter_id: str) -> Any:
    ask = asked(METER.id_wire, meter_id, "signed values")
    if not isinstance(ask, Asked):
        return ask
    args, start, end = ask
    after = None
    if "cursor" in args:
        after = _after(args["cursor"])
        if after is None:
            return error("invalid_cursor", "The cursor is not one this listing gave.", 400)
    limit = args["limit"]

    def read(conn: Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows = signed.page(conn, meter_id, start, end, limit + 1, after)
        return rows, judged(conn, rows[:limit])

    rows, values = db.read(services().engine, read)
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "meterId": meter_id,
        "from": iso_z(start),
        "to": iso_z(end),
        "signedValues": values,
        "nextCursor": cursors.encode([last["at"].isoformat(), last["id"]]) if last else None,
    }


def _after(cursor: str) -> tuple[datetime, int] | None:
    held = cursors.decode(cursor)
    if not (isinstance(held, list) and len(held) == 2):
        return None
    if not isinstance(held[0], str) or type(held[1]) is not int:
        return None
    moment = cursors.decode_moment(cursors.encode(held[0]))
    return None if moment is None else (moment, held[1])

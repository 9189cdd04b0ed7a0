"""The shapes of a device's answers, per kind of reading, for the OpenAPI document: its newest
reading, its history and its charging sessions, page by page (web/openapi/answers.py holds the
rest)."""

from __future__ import annotations

import functools

from marshmallow import Schema, fields

from models.kinds import Kind
from web.openapi.answers import SignedValue, moment_field, next_cursor_field


def _reading_fields(kind: Kind) -> dict[str, fields.Field]:
    unknown = "; null when not known (a register reading's interval: docs/DESIGN.md, Registers)"
    return {
        **{wire: fields.String(required=True) for wire in kind.ref_wires},
        **{
            q.wire: fields.Float(
                required=True,
                allow_none=kind.nullable(q),
                metadata={"description": q.description + unknown} if kind.nullable(q) else {},
            )
            for q in kind.quantities
        },
        **{
            wire: fields.Decimal(
                required=True,
                allow_none=True,
                metadata={
                    "description": "The register as sent, exactly; null for an interval reading."
                },
            )
            for wire in kind.register_wires
        },
    }


@functools.cache
def reading_row_schema(kind: Kind) -> type[Schema]:
    """A reading as history shows it: `<Kind>ReadingRow`.

    These schemas are made once per kind (cached): the OpenAPI plugin finds a schema a response
    names by its class name, and two classes of one name would be documented twice."""
    declared = {"timestamp": moment_field(), **_reading_fields(kind)}
    return type(f"{kind.title}ReadingRow", (Schema,), declared)


@functools.cache
def state_schema(kind: Kind) -> type[Schema]:
    """A device's newest reading, and when it became newest: `<Kind>State`."""
    declared = {
        kind.id_wire: fields.String(required=True),
        **_reading_fields(kind),
        "timestamp": moment_field(),
        "updatedAt": moment_field(),
    }
    return type(f"{kind.title}State", (Schema,), declared)


def _page(name: str, kind: Kind, key: str, item: type[Schema]) -> type[Schema]:
    """A page of one device's rows over [from, to), oldest first: `name`."""
    declared = {
        kind.id_wire: fields.String(required=True),
        "start": fields.String(required=True, data_key="from", metadata={"format": "date-time"}),
        "end": fields.String(required=True, data_key="to", metadata={"format": "date-time"}),
        key: fields.List(fields.Nested(item), required=True),
        "nextCursor": next_cursor_field(),
    }
    return type(name, (Schema,), declared)


@functools.cache
def history_schema(kind: Kind, row: type[Schema]) -> type[Schema]:
    """A page of a device's history: `<Kind>History`, its readings `row`s, oldest first."""
    return _page(f"{kind.title}History", kind, "readings", row)


class Session(Schema):
    vehicleId = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "None: a charger's OCPP transaction no vehicle reported in."},
    )
    meterId = fields.String(required=True)
    start = moment_field()
    end = moment_field()
    minutesSeen = fields.Integer(
        required=True, metadata={"description": "Minutes with a reading of the session."}
    )
    minutesCounted = fields.Integer(
        required=True, metadata={"description": "Of them, minutes the efficiency rule kept."}
    )
    coverage = fields.Float(
        required=True, allow_none=True, metadata={"description": "Counted over seen."}
    )
    acConsumedKwh = fields.Float(required=True)
    dcDeliveredKwh = fields.Float(required=True)
    chargingEfficiency = fields.Float(required=True, allow_none=True)
    energyLostKwh = fields.Float(required=True, metadata={"description": "AC minus DC."})
    socStart = fields.Float(required=True, allow_none=True)
    socEnd = fields.Float(required=True, allow_none=True)
    suspectMinutes = fields.Integer(required=True)
    transactionId = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The OCPP transaction the charger reported for it, if any."},
    )
    idTag = fields.String(required=True, allow_none=True)
    transactionEnergyKwh = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "What the transaction's register counted, stop minus start."},
    )
    signedValues = fields.List(
        fields.Nested(SignedValue),
        required=True,
        metadata={"description": "The signed meter values its transaction carried."},
    )


@functools.cache
def sessions_schema(kind: Kind) -> type[Schema]:
    """A page of a device's sessions: `<Kind>Sessions`."""
    return _page(f"{kind.title}Sessions", kind, "sessions", Session)

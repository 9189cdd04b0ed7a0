"""The shapes of the API's answers as marshmallow schemas, for the OpenAPI document: what
web/responses.py builds, declared."""

from __future__ import annotations

import functools

from marshmallow import Schema, fields

from models.kinds import KINDS, Kind

# In the order the document registers them: a nested schema before the one holding it.
DOCUMENTED = (
    "Error",
    "Rejection",
    "IngestResult",
    "NoData",
    "Performance",
    "FleetItem",
    "FleetPage",
    "HourFigures",
    "Hourly",
    "DayFigures",
    "Daily",
    "MeterPerformance",
    "MeterItem",
    "MeterPage",
    "MeterHourFigures",
    "MeterHourly",
    "MeterDayFigures",
    "MeterDaily",
    "Readiness",
)


class Error(Schema):
    error = fields.String(required=True, metadata={"description": "Machine-readable code."})
    message = fields.String(required=True, metadata={"description": "For a human."})
    invalid = fields.Dict(
        data_key="fields", metadata={"description": "invalid_query: messages per parameter."}
    )


class Rejection(Schema):
    index = fields.Integer(required=True, metadata={"description": "Position in the body."})
    errors = fields.Dict(required=True, metadata={"description": "Field name: messages."})


class IngestResult(Schema):
    accepted = fields.Integer(required=True)
    rejected = fields.List(
        fields.Nested(Rejection),
        required=True,
        metadata={"description": "The first 100 rejected readings, by index."},
    )
    rejectedCount = fields.Integer(required=True, metadata={"description": "All rejected."})
    rejectedNotListed = fields.Integer(
        metadata={"description": "Rejected readings past the first 100, counted only."}
    )
    message = fields.String()


NoData = type(
    "NoData",
    (Schema,),
    {
        **{kind.id_wire: fields.String() for kind in KINDS},
        "message": fields.String(required=True),
    },
)


def _moment() -> fields.String:
    return fields.String(required=True, metadata={"format": "date-time"})


class Window(Schema):
    windowStart = _moment()
    windowEnd = _moment()
    refreshedAt = _moment()


def _hours_field() -> fields.Float:
    return fields.Float(
        required=True, metadata={"description": "24, or the length of the window asked for."}
    )


def _efficiency() -> fields.Float:
    return fields.Float(
        required=True, allow_none=True, metadata={"description": "DC / AC; null when AC is 0."}
    )


class _Counted(Schema):
    minutesCounted = fields.Integer(required=True)
    readingsCounted = fields.Integer(required=True)
    suspectMinutes = fields.Integer(
        required=True,
        metadata={
            "description": "Kept (meter, minute)s where DC exceeds AC: physically impossible "
            "(a clock or a meter is wrong). Counted; still in the sums."
        },
    )


class FleetItem(_Counted):
    vehicleId = fields.String(required=True)
    timeWindowHours = _hours_field()
    totalAcConsumedKwh = fields.Float(required=True)
    totalDcDeliveredKwh = fields.Float(required=True)
    chargingEfficiency = _efficiency()
    averageSoc = fields.Float(required=True)
    averageBatteryTemp = fields.Float(required=True)


class Performance(FleetItem, Window):
    """One vehicle: its figures and the window they cover."""


def _next_cursor() -> fields.String:
    return fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as cursor; null at the end."}
    )


class FleetPage(Window):
    items = fields.List(fields.Nested(FleetItem), required=True)
    nextCursor = _next_cursor()


class MeterItem(_Counted):
    meterId = fields.String(required=True)
    timeWindowHours = _hours_field()
    totalAcConsumedKwh = fields.Float(required=True)
    totalDcDeliveredKwh = fields.Float(required=True)
    chargingEfficiency = _efficiency()
    vehiclesServed = fields.Integer(
        required=True, metadata={"description": "Vehicles with a kept minute on this meter."}
    )


class MeterPerformance(MeterItem, Window):
    """One meter (a charger): its vehicles' kept minutes on it, and the window they cover."""


class MeterPage(Window):
    items = fields.List(fields.Nested(MeterItem), required=True)
    nextCursor = _next_cursor()


class _PeriodFigures(_Counted):
    acConsumedKwh = fields.Float(required=True)
    dcDeliveredKwh = fields.Float(required=True)
    chargingEfficiency = fields.Float(required=True, allow_none=True)


class _VehiclePeriod(_PeriodFigures):
    averageSoc = fields.Float(required=True)
    averageBatteryTemp = fields.Float(required=True)


class _MeterPeriod(_PeriodFigures):
    vehiclesServed = fields.Integer(required=True)


class HourFigures(_VehiclePeriod):
    hour = _moment()


class DayFigures(_VehiclePeriod):
    day = _moment()


class MeterHourFigures(_MeterPeriod):
    hour = _moment()


class MeterDayFigures(_MeterPeriod):
    day = _moment()


_DAYS = "UTC days with kept minutes, oldest first; the last one ends at windowEnd."


class Hourly(Window):
    vehicleId = fields.String(required=True)
    hours = fields.List(fields.Nested(HourFigures), required=True)


class Daily(Window):
    vehicleId = fields.String(required=True)
    days = fields.List(fields.Nested(DayFigures), required=True, metadata={"description": _DAYS})


class MeterHourly(Window):
    meterId = fields.String(required=True)
    hours = fields.List(fields.Nested(MeterHourFigures), required=True)


class MeterDaily(Window):
    meterId = fields.String(required=True)
    days = fields.List(
        fields.Nested(MeterDayFigures), required=True, metadata={"description": _DAYS}
    )


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
    declared = {"timestamp": _moment(), **_reading_fields(kind)}
    return type(f"{kind.title}ReadingRow", (Schema,), declared)


@functools.cache
def state_schema(kind: Kind) -> type[Schema]:
    """A device's newest reading, and when it became newest: `<Kind>State`."""
    declared = {
        kind.id_wire: fields.String(required=True),
        **_reading_fields(kind),
        "timestamp": _moment(),
        "updatedAt": _moment(),
    }
    return type(f"{kind.title}State", (Schema,), declared)


@functools.cache
def history_schema(kind: Kind, row: type[Schema]) -> type[Schema]:
    """A page of a device's history: `<Kind>History`, its readings `row`s, oldest first."""
    declared = {
        kind.id_wire: fields.String(required=True),
        "start": fields.String(required=True, data_key="from", metadata={"format": "date-time"}),
        "end": fields.String(required=True, data_key="to", metadata={"format": "date-time"}),
        "readings": fields.List(fields.Nested(row), required=True),
        "nextCursor": _next_cursor(),
    }
    return type(f"{kind.title}History", (Schema,), declared)


class Session(Schema):
    vehicleId = fields.String(required=True)
    meterId = fields.String(required=True)
    start = _moment()
    end = _moment()
    minutesSeen = fields.Integer(
        required=True, metadata={"description": "Minutes with a reading of the session."}
    )
    minutesCounted = fields.Integer(
        required=True, metadata={"description": "Of them, minutes the efficiency rule kept."}
    )
    coverage = fields.Float(required=True, metadata={"description": "Counted over seen."})
    acConsumedKwh = fields.Float(required=True)
    dcDeliveredKwh = fields.Float(required=True)
    chargingEfficiency = fields.Float(required=True, allow_none=True)
    energyLostKwh = fields.Float(required=True, metadata={"description": "AC minus DC."})
    socStart = fields.Float(required=True)
    socEnd = fields.Float(required=True)
    suspectMinutes = fields.Integer(required=True)
    transactionId = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The OCPP transaction the charger reported for it, if any."},
    )
    idTag = fields.String(required=True, allow_none=True)


@functools.cache
def sessions_schema(kind: Kind) -> type[Schema]:
    """A page of a device's sessions: `<Kind>Sessions`."""
    declared = {
        kind.id_wire: fields.String(required=True),
        "start": fields.String(required=True, data_key="from", metadata={"format": "date-time"}),
        "end": fields.String(required=True, data_key="to", metadata={"format": "date-time"}),
        "sessions": fields.List(fields.Nested(Session), required=True),
        "nextCursor": _next_cursor(),
    }
    return type(f"{kind.title}Sessions", (Schema,), declared)


class Readiness(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())

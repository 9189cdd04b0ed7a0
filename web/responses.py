"""What the API answers, as marshmallow schemas: for the OpenAPI document only (the views build
their answers directly)."""

from __future__ import annotations

from marshmallow import Schema, fields

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
    "MeterState",
    "VehicleState",
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
    rejected = fields.List(fields.Nested(Rejection), required=True)
    message = fields.String()


class NoData(Schema):
    vehicleId = fields.String()
    meterId = fields.String()
    message = fields.String(required=True)


def _moment() -> fields.String:
    return fields.String(required=True, metadata={"format": "date-time"})


class Window(Schema):
    windowStart = _moment()
    windowEnd = _moment()
    refreshedAt = _moment()


class FleetItem(Schema):
    vehicleId = fields.String(required=True)
    timeWindowHours = fields.Float(
        required=True, metadata={"description": "24, or the length of the window asked for."}
    )
    totalAcConsumedKwh = fields.Float(required=True)
    totalDcDeliveredKwh = fields.Float(required=True)
    chargingEfficiency = fields.Float(
        required=True, allow_none=True, metadata={"description": "DC / AC; null when AC is 0."}
    )
    averageSoc = fields.Float(required=True)
    averageBatteryTemp = fields.Float(required=True)
    minutesCounted = fields.Integer(required=True)
    readingsCounted = fields.Integer(required=True)


class Performance(FleetItem, Window):
    """One vehicle: its figures and the window they cover."""


class FleetPage(Window):
    items = fields.List(fields.Nested(FleetItem), required=True)
    nextCursor = fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as cursor; null at the end."}
    )


class HourFigures(Schema):
    hour = _moment()
    acConsumedKwh = fields.Float(required=True)
    dcDeliveredKwh = fields.Float(required=True)
    chargingEfficiency = fields.Float(required=True, allow_none=True)
    averageSoc = fields.Float(required=True)
    averageBatteryTemp = fields.Float(required=True)
    minutesCounted = fields.Integer(required=True)
    readingsCounted = fields.Integer(required=True)


class Hourly(Window):
    vehicleId = fields.String(required=True)
    hours = fields.List(fields.Nested(HourFigures), required=True)


class MeterState(Schema):
    meterId = fields.String(required=True)
    kwhConsumedAc = fields.Float(required=True)
    voltage = fields.Float(required=True)
    timestamp = _moment()
    updatedAt = _moment()


class VehicleState(Schema):
    vehicleId = fields.String(required=True)
    meterId = fields.String(required=True)
    kwhDeliveredDc = fields.Float(required=True)
    soc = fields.Float(required=True)
    batteryTemp = fields.Float(required=True)
    timestamp = _moment()
    updatedAt = _moment()


class Readiness(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())

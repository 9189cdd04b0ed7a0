"""What the API answers: the marshmallow schemas the OpenAPI document shows, and below them the
functions that build each answer from the rows models/ return (one place for every shape, and
one for the efficiency formula)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import orjson
from marshmallow import Schema, fields

from models.readings import iso_z

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
    "MeterReadingRow",
    "VehicleReadingRow",
    "History",
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


class MeterReadingRow(Schema):
    timestamp = _moment()
    kwhConsumedAc = fields.Float(required=True)
    voltage = fields.Float(required=True)


class VehicleReadingRow(Schema):
    timestamp = _moment()
    meterId = fields.String(required=True)
    kwhDeliveredDc = fields.Float(required=True)
    soc = fields.Float(required=True)
    batteryTemp = fields.Float(required=True)


class History(Schema):
    meterId = fields.String()
    vehicleId = fields.String()
    start = fields.String(required=True, data_key="from", metadata={"format": "date-time"})
    end = fields.String(required=True, data_key="to", metadata={"format": "date-time"})
    readings = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "MeterReadingRow or VehicleReadingRow items, oldest first."},
    )
    nextCursor = fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as cursor; null at the end."}
    )


class Readiness(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())


# -- building the answers from rows --------------------------------------------------------------


def figures(row: Any) -> dict[str, Any]:
    """DESIGN.md's figures from summed contributions (ac_kwh, dc_kwh, the hundredths sums,
    readings): DC delivered over AC consumed (None without AC), SOC and temperature averaged per
    reading. Every efficiency the API gives comes from here."""
    ac, dc, readings = Decimal(row["ac_kwh"]), Decimal(row["dc_kwh"]), row["readings"]
    return {
        "chargingEfficiency": float(dc / ac) if ac else None,
        "averageSoc": float(Decimal(row["soc_hundredths_sum"]) / readings / 100),
        "averageBatteryTemp": float(Decimal(row["battery_temp_hundredths_sum"]) / readings / 100),
    }


def window(row: Any) -> dict[str, str]:
    return {
        "windowStart": iso_z(row["window_start"]),
        "windowEnd": iso_z(row["window_end"]),
        "refreshedAt": iso_z(row["refreshed_at"]),
    }


def fleet_item(row: Any) -> dict[str, Any]:
    hours = (row["window_end"] - row["window_start"]).total_seconds() / 3600
    return {
        "vehicleId": row["vehicle_id"],
        "timeWindowHours": int(hours) if hours.is_integer() else hours,
        "totalAcConsumedKwh": float(row["ac_kwh"]),
        "totalDcDeliveredKwh": float(row["dc_kwh"]),
        **figures(row),
        "minutesCounted": row["minutes"],
        "readingsCounted": row["readings"],
    }


def performance(row: Any) -> dict[str, Any]:
    return {**fleet_item(row), **window(row)}


def hour_figures(row: Any) -> dict[str, Any]:
    return {
        "hour": iso_z(row["hour"]),
        "acConsumedKwh": float(row["ac_kwh"]),
        "dcDeliveredKwh": float(row["dc_kwh"]),
        **figures(row),
        "minutesCounted": row["minutes"],
        "readingsCounted": row["readings"],
    }


def meter_reading(row: Any) -> dict[str, Any]:
    return {
        "timestamp": iso_z(row["recorded_at"]),
        "kwhConsumedAc": float(row["kwh_consumed_ac"]),
        "voltage": _hundredths(row["voltage_hundredths"]),
    }


def vehicle_reading(row: Any) -> dict[str, Any]:
    return {
        "timestamp": iso_z(row["recorded_at"]),
        "meterId": row["meter_id"],
        "kwhDeliveredDc": float(row["kwh_delivered_dc"]),
        "soc": _hundredths(row["soc_hundredths"]),
        "batteryTemp": _hundredths(row["battery_temp_hundredths"]),
    }


def meter_state(row: Any) -> dict[str, Any]:
    """A meter's newest reading: the reading as history shows it, and when it became newest."""
    return {
        "meterId": row["meter_id"],
        **meter_reading(row),
        "updatedAt": iso_z(row["updated_at"]),
    }


def vehicle_state(row: Any) -> dict[str, Any]:
    return {
        "vehicleId": row["vehicle_id"],
        **vehicle_reading(row),
        "updatedAt": iso_z(row["updated_at"]),
    }


def _hundredths(value: int) -> float:
    return float(Decimal(value) / 100)


def encode(body: Any) -> tuple[bytes, str]:
    """An answer's JSON body and its ETag."""
    payload = orjson.dumps(body)
    return payload, hashlib.blake2b(payload, digest_size=12).hexdigest()

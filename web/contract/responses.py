"""What the API answers, built from the rows models/ return (one place for every shape; the
OpenAPI document shows them as web/openapi/answers.py declares them)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import orjson

from efficiency import formula
from models.kinds import Kind
from readings.records import iso_z


def figures(row: Any) -> dict[str, Any]:
    """The efficiency and averages of summed contributions (efficiency/formula.py)."""
    charge, temperature = formula.averages(row)
    return {
        "chargingEfficiency": formula.ratio(row["ac_kwh"], row["dc_kwh"]),
        "averageSoc": charge,
        "averageBatteryTemp": temperature,
    }


def window(row: Any) -> dict[str, str]:
    return {
        "windowStart": iso_z(row["window_start"]),
        "windowEnd": iso_z(row["window_end"]),
        "refreshedAt": iso_z(row["refreshed_at"]),
    }


def _hours(row: Any) -> float | int:
    hours = (row["window_end"] - row["window_start"]).total_seconds() / 3600
    return int(hours) if hours.is_integer() else hours


def _counted(row: Any) -> dict[str, Any]:
    return {
        "minutesCounted": row["minutes"],
        "readingsCounted": row["readings"],
        "suspectMinutes": row["suspect_minutes"],
    }


# The fields of fleet_item and meter_item, in order: a CSV export's columns.
_COUNTED = ("minutesCounted", "readingsCounted", "suspectMinutes")
_TOTALS = ("timeWindowHours", "totalAcConsumedKwh", "totalDcDeliveredKwh", "chargingEfficiency")
VEHICLE_FIELDS = ("vehicleId", *_TOTALS, "averageSoc", "averageBatteryTemp", *_COUNTED)
METER_FIELDS = ("meterId", *_TOTALS, "vehiclesServed", *_COUNTED)
WINDOW_FIELDS = ("windowStart", "windowEnd", "refreshedAt")


def fleet_item(row: Any) -> dict[str, Any]:
    return {
        "vehicleId": row["vehicle_id"],
        "timeWindowHours": _hours(row),
        "totalAcConsumedKwh": float(row["ac_kwh"]),
        "totalDcDeliveredKwh": float(row["dc_kwh"]),
        **figures(row),
        **_counted(row),
    }


def performance(row: Any) -> dict[str, Any]:
    return {**fleet_item(row), **window(row)}


def meter_item(row: Any) -> dict[str, Any]:
    """A meter (a charger) over a window: its vehicles' kept minutes on it."""
    return {
        "meterId": row["meter_id"],
        "timeWindowHours": _hours(row),
        "totalAcConsumedKwh": float(row["ac_kwh"]),
        "totalDcDeliveredKwh": float(row["dc_kwh"]),
        "chargingEfficiency": formula.ratio(row["ac_kwh"], row["dc_kwh"]),
        "vehiclesServed": row["vehicles"],
        **_counted(row),
    }


def meter_performance(row: Any) -> dict[str, Any]:
    return {**meter_item(row), **window(row)}


def period_figures(row: Any, period: str, meter: bool = False) -> dict[str, Any]:
    """A row of fleet.hourly or fleet.daily, its start under `period` ("hour", "day"): a
    vehicle's with its averages, a meter's with the vehicles it served."""
    ac, dc = row["ac_kwh"], row["dc_kwh"]
    return {
        period: iso_z(row["start"]),
        "acConsumedKwh": float(ac),
        "dcDeliveredKwh": float(dc),
        **({"chargingEfficiency": formula.ratio(ac, dc)} if meter else figures(row)),
        **({"vehiclesServed": row["vehicles"]} if meter else {}),
        **_counted(row),
    }


def reading(kind: Kind, row: Any) -> dict[str, Any]:
    """A row of a kind's history (or current state) as the API shows the reading."""
    return {
        "timestamp": iso_z(row["recorded_at"]),
        **{
            wire: row[column] for wire, column in zip(kind.ref_wires, kind.ref_columns, strict=True)
        },
        **{q.wire: q.shown(row[q.column]) for q in kind.quantities},
        **{
            wire: exact(row[column])
            for wire, column in zip(kind.register_wires, kind.register_columns, strict=True)
        },
    }


def state(kind: Kind, row: Any) -> dict[str, Any]:
    """A device's newest reading: the reading as history shows it, and when it became newest."""
    return {
        kind.id_wire: row[kind.id_column],
        **reading(kind, row),
        "updatedAt": iso_z(row["updated_at"]),
    }


def no_data(kind: Kind, device_id: str, message: str) -> tuple[dict[str, str], int]:
    return {kind.id_wire: device_id, "message": message}, 404


def exact(value: Decimal | None) -> Decimal | None:
    """An exact decimal as the API shows it: without trailing zeros; JSON writes it as a number
    digit for digit (json_default)."""
    return None if value is None else value.normalize() + 0


def json_default(value: Any) -> Any:
    """orjson's hook for what it cannot write: an exact decimal, written as a number, digit for
    digit, never through a float."""
    if isinstance(value, Decimal):
        return orjson.Fragment(f"{value:f}")
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode(body: Any) -> tuple[bytes, str]:
    """An answer's JSON body and its ETag."""
    payload = orjson.dumps(body, default=json_default)
    return payload, hashlib.blake2b(payload, digest_size=12).hexdigest()

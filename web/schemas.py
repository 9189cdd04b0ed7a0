"""The v1 wire contract for readings (DESIGN.md), as marshmallow schemas.

A request's readings are split by kind and each kind is validated in one `many=True` load with
schema instances built once per process: the cheap path through marshmallow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from models.readings import Record, meter_record, vehicle_record
from settings import Settings

ID_PATTERN = r"[A-Za-z0-9._:-]{1,64}"
ID_RE = re.compile(ID_PATTERN)
ID_RULE = "1 to 64 characters: letters, digits, '.', '_', ':' or '-'"
# Decimals kept: energy as numeric(10, 6) (a milliwatt-hour), the rest in hundredths
# (models/schema.py). A reading is rounded to them on arrival.
ENERGY_PLACES, MEASURE_PLACES = 6, 2
# Floats this large have no fractional part (2**53), and Decimal's precision could not hold one.
LARGEST_ROUNDED = 2.0**53

METER_ONLY = ("kwhConsumedAc", "voltage")
# Every field name an error can be reported under (metrics label them, so the set is closed).
FIELDS = frozenset(
    (
        "type",
        "meterId",
        "vehicleId",
        "kwhConsumedAc",
        "voltage",
        "kwhDeliveredDc",
        "soc",
        "batteryTemp",
        "timestamp",
        "_record",
    )
)
VEHICLE_ONLY = ("vehicleId", "kwhDeliveredDc", "soc", "batteryTemp")
NEITHER = (
    "Not a meter or a vehicle reading. A meter reading has meterId, kwhConsumedAc, voltage and "
    "timestamp; a vehicle reading has vehicleId, meterId, kwhDeliveredDc, soc, batteryTemp and "
    "timestamp."
)


class _DirectValidators:
    """For each value, marshmallow wraps a field's validators in a new `And` before running
    them: measurable at tens of thousands of readings a second. A field with at most one
    validator runs it directly; the check and its message are the same."""

    validators: list[Any]

    @cached_property
    def _direct(self) -> bool:
        return len(self.validators) <= 1 and all(
            isinstance(v, validate.Validator) for v in self.validators
        )

    def _validate(self, value: Any) -> None:
        if self._direct:
            for check in self.validators:
                check(value)
        else:
            super()._validate(value)  # type: ignore[misc]


class String(_DirectValidators, fields.String):
    pass


class Number(_DirectValidators, fields.Float):
    """A JSON number, finite, rounded to the `places` decimals it is stored with (half away from
    zero, as PostgreSQL rounds numeric), so that a 202 stands for the value stored and the
    bounds are checked on it. Unlike fields.Float, a numeric string is not a number."""

    def __init__(self, places: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.places = places
        self.quantum = Decimal(1).scaleb(-places)

    def _validated(self, value: Any) -> float:
        # The common case, a finite float as JSON parsing gives it, without Float's chain.
        if type(value) is not float or not math.isfinite(value):
            if value is True or value is False or not isinstance(value, int | float):
                raise self.make_error("invalid", input=value)
            value = super()._validated(value)
        return self._rounded(value)

    def _rounded(self, value: float) -> float:
        text = repr(value)
        point = text.find(".")
        if "e" not in text and (point < 0 or len(text) - point - 1 <= self.places):
            return value
        if abs(value) >= LARGEST_ROUNDED:  # a whole number already, and out of every bound
            return value
        exact = Decimal(text).quantize(self.quantum, ROUND_HALF_UP)
        return float(exact) + 0.0  # + 0.0: no negative zero


_FRACTION = re.compile(r"[.,](\d+)")


class Timestamp(_DirectValidators, fields.Field):
    """ISO 8601 with a zone offset, not beyond the allowed clock skew nor past retention."""

    default_error_messages = {
        "invalid": "Not an ISO 8601 timestamp.",
        "naive": "Has no zone offset; add one, e.g. 2026-02-10T14:47:24Z or +01:00.",
        "offset": "Has a zone offset with seconds; give Z or whole minutes, e.g. +05:30.",
        "too_precise": (
            "Has more than 6 fractional digits: timestamps are kept to the microsecond, and a "
            "finer one would be merged with another reading. Send at most 6."
        ),
        "future": "Is more than {skew} s ahead of the server clock ({now}).",
        "expired": "Is older than the {days}-day retention (RETENTION_DAYS); it would be dropped.",
    }

    def __init__(
        self, clock: Callable[[], datetime], skew: timedelta, retention: timedelta, **kw: Any
    ) -> None:
        super().__init__(required=True, **kw)
        self.clock, self.skew, self.retention = clock, skew, retention

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> datetime:
        if not isinstance(value, str) or len(value) > 64:
            raise self.make_error("invalid")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        offset = moment.utcoffset()
        if offset is None:
            raise self.make_error("naive")
        if offset.seconds % 60 or offset.microseconds:
            raise self.make_error("offset")
        # Python reads any number of digits and silently drops those past the sixth.
        fraction = _FRACTION.search(value)
        if fraction and fraction[1][6:].strip("0"):
            raise self.make_error("too_precise")
        now = self.clock()
        if moment > now + self.skew:
            raise self.make_error(
                "future", skew=int(self.skew.total_seconds()), now=now.isoformat()
            )
        if moment < now - self.retention:
            raise self.make_error("expired", days=self.retention.days)
        return moment


def _id(**kw: Any) -> fields.String:
    return String(required=True, validate=validate.Regexp(f"^{ID_PATTERN}\\Z", error=ID_RULE), **kw)


def _kind(name: str) -> fields.String:
    return String(load_default=None, validate=validate.Equal(name))


def build_schemas(settings: Settings, clock: Callable[[], datetime]) -> tuple[Schema, Schema]:
    """Meter and vehicle schemas with this deployment's bounds."""
    skew = timedelta(seconds=settings.max_future_skew_seconds)
    retention = timedelta(days=settings.retention_days)
    kwh = validate.Range(min=0, max=settings.max_kwh_per_reading)

    class MeterReading(Schema):
        class Meta:
            unknown = RAISE

        type = _kind("meter")
        meterId = _id()
        kwhConsumedAc = Number(ENERGY_PLACES, required=True, validate=kwh)
        voltage = Number(
            MEASURE_PLACES,
            required=True,
            validate=validate.Range(
                min=0,
                min_inclusive=False,
                max=settings.max_voltage,
                error="Must be above 0 once rounded to hundredths, and at most {max}.",
            ),
            metadata={"exclusiveMinimum": True},  # for the OpenAPI document
        )
        timestamp = Timestamp(clock, skew, retention)

    class VehicleReading(Schema):
        class Meta:
            unknown = RAISE

        type = _kind("vehicle")
        vehicleId = _id()
        meterId = _id()
        kwhDeliveredDc = Number(ENERGY_PLACES, required=True, validate=kwh)
        soc = Number(MEASURE_PLACES, required=True, validate=validate.Range(min=0, max=100))
        batteryTemp = Number(
            MEASURE_PLACES,
            required=True,
            validate=validate.Range(
                min=settings.battery_temp_min_c, max=settings.battery_temp_max_c
            ),
        )
        timestamp = Timestamp(clock, skew, retention)

    return MeterReading(), VehicleReading()


Rejection = dict[str, Any]


class ReadingValidator:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.meters, self.vehicles = build_schemas(settings, clock or (lambda: datetime.now(UTC)))

    def validate(self, items: list[Any]) -> tuple[list[Record], list[Rejection]]:
        """Normalised valid readings (in body order) and the rejected ones by index."""
        rejected: dict[int, dict[str, Any]] = {}
        by_kind: dict[str, list[int]] = {"meter": [], "vehicle": []}
        for index, item in enumerate(items):
            kind = classify(item)
            if isinstance(kind, dict):
                rejected[index] = kind
            else:
                by_kind[kind].append(index)

        records: dict[int, Record] = {}
        for kind, schema, to_record in (
            ("meter", self.meters, _meter),
            ("vehicle", self.vehicles, _vehicle),
        ):
            indexes = by_kind[kind]
            if not indexes:
                continue
            try:
                loaded = schema.load([items[i] for i in indexes], many=True)
                errors: dict[int, Any] = {}
            except ValidationError as exc:
                loaded, errors = exc.valid_data, exc.messages  # type: ignore[assignment]
            for position, index in enumerate(indexes):
                if position in errors:
                    rejected[index] = errors[position]
                else:
                    records[index] = to_record(loaded[position])

        ordered = [records[i] for i in sorted(records)]
        return ordered, [{"index": i, "errors": rejected[i]} for i in sorted(rejected)]


def classify(item: Any) -> str | dict[str, list[str]]:
    """'meter' or 'vehicle' by `type`, else by fields (vehicleId: vehicle); errors if neither."""
    if not isinstance(item, dict):
        return {"_record": [f"Expected a JSON object, got {_json_type(item)}."]}
    declared = item.get("type")
    meter_fields = [f for f in METER_ONLY if f in item]
    vehicle_fields = [f for f in VEHICLE_ONLY if f in item]
    if declared is not None:
        if declared == "meter" and vehicle_fields:
            return {"type": [f"Says 'meter' but has vehicle fields: {', '.join(vehicle_fields)}."]}
        if declared == "vehicle" and meter_fields:
            return {"type": [f"Says 'vehicle' but has meter fields: {', '.join(meter_fields)}."]}
        if declared not in ("meter", "vehicle"):
            return {"type": ["Must be 'meter' or 'vehicle'."]}
        return str(declared)
    if meter_fields and vehicle_fields:
        return {
            "_record": [
                f"Mixes meter fields ({', '.join(meter_fields)}) and vehicle fields "
                f"({', '.join(vehicle_fields)}); send one reading per object."
            ]
        }
    if vehicle_fields:
        return "vehicle"
    if meter_fields or "meterId" in item:
        return "meter"
    return {"_record": [NEITHER]}


def _meter(r: dict[str, Any]) -> Record:
    return meter_record(r["meterId"], r["timestamp"], r["kwhConsumedAc"], r["voltage"])


def _vehicle(r: dict[str, Any]) -> Record:
    return vehicle_record(
        r["vehicleId"],
        r["meterId"],
        r["timestamp"],
        r["kwhDeliveredDc"],
        r["soc"],
        r["batteryTemp"],
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


class UtcMoment(fields.AwareDateTime):
    """A moment with any zone offset Python reads, turned to UTC (PostgreSQL takes offsets up to
    15:59 only); one that leaves the calendar on the way is invalid, not a 500."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Out of the calendar's range once in UTC.") from exc

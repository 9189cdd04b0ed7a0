"""The shapes of the API's answers as marshmallow schemas, for the OpenAPI document: what
web/contract/responses.py builds, declared."""

from __future__ import annotations

from marshmallow import Schema, fields

from models.kinds import KINDS

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
    "Outage",
    "Availability",
    "ConnectorAvailability",
    "ConnectorsPage",
    "Sample",
    "SamplesPage",
    "SignedValue",
    "SignedValuesPage",
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


class IgnoredFields(Schema):
    count = fields.Integer(required=True, metadata={"description": "Fields dropped in all."})
    names = fields.List(
        fields.String(), required=True, metadata={"description": "The first 10 names, sorted."}
    )


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
    ignoredFields = fields.Nested(
        IgnoredFields,
        metadata={"description": "With Unknown-Fields: ignore, the unknown fields dropped."},
    )
    error = fields.String(
        metadata={"description": "On a 422 only: `no_valid_reading`, or `empty_body`."}
    )
    message = fields.String(metadata={"description": "On a 422 only: what was wrong."})


NoData = type(
    "NoData",
    (Schema,),
    {
        **{kind.id_wire: fields.String() for kind in KINDS},
        "message": fields.String(required=True),
    },
)


def moment_field() -> fields.String:
    return fields.String(required=True, metadata={"format": "date-time"})


class Window(Schema):
    windowStart = moment_field()
    windowEnd = moment_field()
    refreshedAt = moment_field()


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


def next_cursor_field() -> fields.String:
    return fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as cursor; null at the end."}
    )


class FleetPage(Window):
    items = fields.List(fields.Nested(FleetItem), required=True)
    nextCursor = next_cursor_field()


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
    nextCursor = next_cursor_field()


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
    hour = moment_field()


class DayFigures(_VehiclePeriod):
    day = moment_field()


class MeterHourFigures(_MeterPeriod):
    hour = moment_field()


class MeterDayFigures(_MeterPeriod):
    day = moment_field()


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


class Readiness(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class Outage(Schema):
    start = moment_field()
    end = moment_field()
    kind = fields.String(required=True, metadata={"enum": ["faulted", "unavailable", "offline"]})
    errorCode = fields.String(allow_none=True, required=True)
    vendorErrorCode = fields.String(allow_none=True, required=True)
    info = fields.String(allow_none=True, required=True)


class Availability(Schema):
    meterId = fields.String(required=True)
    start = fields.String(required=True, data_key="from", metadata={"format": "date-time"})
    end = fields.String(required=True, data_key="to", metadata={"format": "date-time"})
    uptimeRatio = fields.Float(
        allow_none=True,
        required=True,
        metadata={
            "description": "Up seconds over the window's seconds whose state is known (unknown "
            "ones left out); null when none is."
        },
    )
    upSeconds = fields.Float(required=True)
    faultedSeconds = fields.Float(required=True)
    unavailableSeconds = fields.Float(required=True)
    offlineSeconds = fields.Float(required=True)
    unknownSeconds = fields.Float(
        required=True,
        metadata={"description": "Before any status is known, or past now: not in the ratio."},
    )
    outages = fields.List(fields.Nested(Outage), required=True)


class ConnectorAvailability(Schema):
    meterId = fields.String(required=True)
    uptimeRatio = fields.Float(allow_none=True, required=True)
    upSeconds = fields.Float(required=True)
    faultedSeconds = fields.Float(required=True)
    unavailableSeconds = fields.Float(required=True)
    offlineSeconds = fields.Float(required=True)
    unknownSeconds = fields.Float(required=True)
    outages = fields.Integer(required=True, metadata={"description": "How many in the window."})
    status = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The last status the connector sent before the window's end."},
    )
    statusAt = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})


class ConnectorsPage(Schema):
    start = fields.String(required=True, data_key="from", metadata={"format": "date-time"})
    end = fields.String(required=True, data_key="to", metadata={"format": "date-time"})
    items = fields.List(fields.Nested(ConnectorAvailability), required=True)
    nextCursor = next_cursor_field()


class Sample(Schema):
    timestamp = moment_field()
    measurand = fields.String(
        required=True,
        metadata={
            "enum": [
                "Power.Active.Import",
                "Current.Import",
                "Voltage",
                "Frequency",
                "SoC",
                "Temperature",
            ]
        },
    )
    phase = fields.String(allow_none=True, required=True)
    location = fields.String(allow_none=True, required=True)
    context = fields.String(allow_none=True, required=True)
    value = fields.Decimal(required=True, metadata={"description": "Exact, in `unit`."})
    unit = fields.String(required=True, metadata={"enum": ["kW", "A", "V", "Hz", "%", "Celsius"]})


class SignedValue(Schema):
    meterId = fields.String(required=True)
    timestamp = moment_field()
    context = fields.String(required=True, metadata={"description": "Sample.Periodic unless sent."})
    measurand = fields.String(required=True)
    transactionId = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The transaction it came with, as sessions name it."},
    )
    signedData = fields.String(
        required=True,
        metadata={
            "description": "Byte for byte as sent: 1.6's SignedData value, 2.0.1's "
            "signedMeterData (an OCMF record, or Base64 of one)."
        },
    )
    signingMethod = fields.String(required=True, allow_none=True)
    encodingMethod = fields.String(required=True, allow_none=True)
    publicKey = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "As the charger sent it; never what the value is verified with."},
    )
    signatureValid = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={
            "description": "Against the meter's configured key (flask devices key): null when "
            "it has none, the value is not OCMF, or its algorithm is not verified here."
        },
    )
    signatureAlgorithm = fields.String(required=True, allow_none=True)
    reason = fields.String(
        required=True, allow_none=True, metadata={"description": "Why not true."}
    )
    signedKwh = fields.Decimal(
        required=True,
        allow_none=True,
        metadata={"description": "The energy reading it signs; only when the signature is valid."},
    )
    unsignedKwh = fields.Decimal(
        required=True,
        allow_none=True,
        metadata={"description": "The register the same sample set sent unsigned."},
    )
    matchesUnsigned = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={
            "description": "false flags a valid signature whose reading is not the unsigned one."
        },
    )


class SignedValuesPage(Schema):
    meterId = fields.String(required=True)
    start = fields.String(required=True, data_key="from", metadata={"format": "date-time"})
    end = fields.String(required=True, data_key="to", metadata={"format": "date-time"})
    signedValues = fields.List(fields.Nested(SignedValue), required=True)
    nextCursor = next_cursor_field()


class SamplesPage(Schema):
    meterId = fields.String(required=True)
    start = fields.String(required=True, data_key="from", metadata={"format": "date-time"})
    end = fields.String(required=True, data_key="to", metadata={"format": "date-time"})
    samples = fields.List(fields.Nested(Sample), required=True)
    nextCursor = next_cursor_field()

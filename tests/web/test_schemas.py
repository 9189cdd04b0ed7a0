"""Every accept and reject rule of the v1 wire contract (DESIGN.md), on the validator alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from readings.validation import ReadingValidator
from settings import Settings
from tests.support.factories import meter, vehicle

NOW = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def validator() -> ReadingValidator:
    return ReadingValidator(Settings(retention_days=30), clock=lambda: NOW)


def errors_of(validator: ReadingValidator, item: object) -> dict:
    records, rejected = validator.validate([item])
    assert records == []
    assert len(rejected) == 1
    assert rejected[0]["index"] == 0
    return rejected[0]["errors"]


def accepted(validator: ReadingValidator, item: object) -> list:
    records, rejected = validator.validate([item])
    assert rejected == []
    assert len(records) == 1
    return records[0]


def test_meter_reading_is_normalised_to_utc(validator):
    record = accepted(validator, meter("M1", "2026-02-10T16:47:24.841+02:00", 0.4796, 232.0))
    assert record == ["m", "2026-02-10T14:47:24.841000+00:00", "M1", 0.4796, 232.0]


def test_vehicle_reading_is_normalised(validator):
    record = accepted(validator, vehicle("V1", "M1", "2026-02-10T14:47:24Z", 0.4227, 20.7, 30.1))
    assert record == ["v", "2026-02-10T14:47:24+00:00", "V1", "M1", 0.4227, 20.7, 30.1]


def test_kind_is_told_from_fields_without_type(validator):
    assert accepted(validator, vehicle())[0] == "v"
    assert accepted(validator, meter())[0] == "m"


def test_explicit_type_is_accepted(validator):
    assert accepted(validator, meter(type="meter"))[0] == "m"
    assert accepted(validator, vehicle(type="vehicle"))[0] == "v"


def test_type_contradicting_fields_is_rejected(validator):
    errors = errors_of(validator, vehicle(type="meter"))
    assert "vehicleId" in errors["type"][0]
    errors = errors_of(validator, meter(type="vehicle"))
    assert "kwhConsumedAc" in errors["type"][0]


def test_unknown_type_is_rejected(validator):
    assert errors_of(validator, meter(type="charger")) == {
        "type": ["Must be 'meter' or 'vehicle'."]
    }
    assert "type" in errors_of(validator, meter(type=3))


def test_record_fitting_neither_kind_names_the_problem(validator):
    errors = errors_of(validator, {"foo": 1, "timestamp": "2026-02-10T14:00:00Z"})
    assert "Not a meter or a vehicle reading" in errors["_record"][0]


def test_record_mixing_both_kinds_is_rejected(validator):
    item = {**vehicle(), "kwhConsumedAc": 1.0}
    errors = errors_of(validator, item)
    assert "Mixes meter fields (kwhConsumedAc)" in errors["_record"][0]


def test_vehicle_fields_without_vehicle_id_report_the_missing_id(validator):
    item = vehicle()
    del item["vehicleId"]
    assert errors_of(validator, item) == {"vehicleId": ["Missing data for required field."]}


@pytest.mark.parametrize("item", [5, "reading", None, [meter()], True])
def test_non_object_elements_are_rejected(validator, item):
    assert "Expected a JSON object" in errors_of(validator, item)["_record"][0]


@pytest.mark.parametrize(
    "device_id", ["M", "m-1.a_b:c", "A" * 64, "0123456789"], ids=["1", "charset", "64", "digits"]
)
def test_valid_ids(validator, device_id):
    accepted(validator, meter(device_id))
    accepted(validator, vehicle(device_id, device_id))


@pytest.mark.parametrize(
    "device_id", ["", "A" * 65, "M 1", "M/1", "M1\n", "Mé", "M1;DROP", 7, None]
)
def test_invalid_ids_are_rejected(validator, device_id):
    assert "meterId" in errors_of(validator, meter(device_id))
    assert "vehicleId" in errors_of(validator, vehicle(device_id))


def test_unknown_fields_are_rejected(validator):
    assert errors_of(validator, meter(colour="red")) == {"colour": ["Unknown field."]}


@pytest.mark.parametrize("field", ["meterId", "voltage", "timestamp"])
def test_missing_meter_fields_are_named(validator, field):
    item = meter()
    del item[field]
    assert errors_of(validator, item) == {field: ["Missing data for required field."]}


@pytest.mark.parametrize(
    ("reading", "interval", "register"),
    [(meter, "kwhConsumedAc", "kwhRegisterAc"), (vehicle, "kwhDeliveredDc", "kwhRegisterDc")],
)
def test_a_reading_without_its_energy_is_told_of_both_ways_to_give_it(
    validator, reading, interval, register
):
    item = reading()
    del item[interval]
    errors = errors_of(validator, item)
    assert list(errors) == [interval]
    assert interval in errors[interval][0]
    assert register in errors[interval][0]


@pytest.mark.parametrize("field", ["vehicleId", "meterId", "soc", "batteryTemp", "timestamp"])
def test_missing_vehicle_fields_are_named(validator, field):
    item = vehicle()
    del item[field]
    errors = errors_of(validator, item)
    assert errors == {field: ["Missing data for required field."]}


@pytest.mark.parametrize("value", ["0.5", True, None, [1], {"v": 1}])
def test_numbers_must_be_json_numbers(validator, value):
    assert "kwhConsumedAc" in errors_of(validator, meter(kwh=value))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_must_be_finite(validator, value):
    assert "voltage" in errors_of(validator, meter(voltage=value))


def test_numbers_too_large_for_a_float_are_rejected(validator):
    assert "kwhDeliveredDc" in errors_of(validator, vehicle(kwh=10**400))


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("kwh", 0, True),
        ("kwh", 1000, True),
        ("kwh", -0.001, False),
        ("kwh", 1000.01, False),
        ("voltage", 0.1, True),
        ("voltage", 0, False),
        ("voltage", -230, False),
        ("voltage", 2001, False),
    ],
)
def test_meter_bounds(validator, field, value, ok):
    item = meter(**{field: value})
    if ok:
        accepted(validator, item)
    else:
        errors_of(validator, item)


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("soc", 0, True),
        ("soc", 100, True),
        ("soc", -0.1, False),
        ("soc", 100.5, False),
        ("battery_temp", -20, True),
        ("battery_temp", 149, True),
        ("battery_temp", 200, False),
        ("battery_temp", -80, False),
        ("kwh", 1000.5, False),
    ],
)
def test_vehicle_bounds(validator, field, value, ok):
    item = vehicle(**{field: value})
    if ok:
        accepted(validator, item)
    else:
        errors_of(validator, item)


def test_bounds_come_from_settings():
    strict = ReadingValidator(
        Settings(max_kwh_per_reading=5, battery_temp_max_c=60), clock=lambda: NOW
    )
    assert strict.validate([meter(kwh=6)])[1]
    assert strict.validate([vehicle(battery_temp=61)])[1]
    assert strict.validate([vehicle(battery_temp=59, kwh=4)])[0]


def test_timestamp_without_zone_is_rejected(validator):
    errors = errors_of(validator, meter(timestamp="2026-02-10T14:47:24"))
    assert "no zone offset" in errors["timestamp"][0]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-10T00:00:00Z", "", 1770000000, None])
def test_timestamp_that_is_not_iso8601_is_rejected(validator, value):
    item = meter()
    item["timestamp"] = value
    assert "timestamp" in errors_of(validator, item)


def test_timestamp_within_skew_is_accepted(validator):
    accepted(validator, meter(timestamp=NOW + timedelta(seconds=299)))


def test_timestamp_beyond_skew_is_rejected(validator):
    errors = errors_of(validator, meter(timestamp=NOW + timedelta(seconds=301)))
    assert "300 s ahead" in errors["timestamp"][0]


def test_skew_limit_comes_from_settings():
    lenient = ReadingValidator(Settings(max_future_skew_seconds=3600), clock=lambda: NOW)
    assert lenient.validate([meter(timestamp=NOW + timedelta(minutes=59))])[0]


def test_timestamp_older_than_retention_is_rejected(validator):
    errors = errors_of(validator, meter(timestamp=NOW - timedelta(days=31)))
    assert "RETENTION_DAYS" in errors["timestamp"][0]
    accepted(validator, meter(timestamp=NOW - timedelta(days=29)))


def test_batch_keeps_valid_readings_in_order_and_reports_invalid_by_index(validator):
    items = [meter("A"), vehicle(soc=500), "x", vehicle("B"), meter(voltage=-1), meter("C")]
    records, rejected = validator.validate(items)
    assert [r[2] for r in records] == ["A", "B", "C"]
    assert [r["index"] for r in rejected] == [1, 2, 4]
    assert "soc" in rejected[0]["errors"]
    assert "voltage" in rejected[2]["errors"]


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-10T14:47:24.1234567Z",
        "2026-02-10T14:47:24.123456001+00:00",
        "2026-02-10T14:47:24,0000001Z",
    ],
)
def test_timestamp_finer_than_a_microsecond_is_rejected_not_rounded(validator, value):
    """Two readings 100 ns apart would otherwise both be accepted and stored as one."""
    errors = errors_of(validator, meter(timestamp=value))
    assert "more than 6 fractional digits" in errors["timestamp"][0]


def test_trailing_zeros_past_the_microsecond_are_not_finer(validator):
    records, _ = validator.validate([meter(timestamp="2026-02-10T14:47:24.1234560000Z")])
    assert records[0][1] == "2026-02-10T14:47:24.123456+00:00"


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-10T14:47:24+01:00:30",
        "2026-02-10T14:47:24+01:00:30.1234567",
        "2026-02-10T14:47:24Z",
    ],
)
def test_a_zone_offset_is_whole_minutes(validator, value):
    records, rejected = validator.validate([meter(timestamp=value)])
    if value.endswith("Z"):
        assert len(records) == 1
    else:
        assert "zone offset with seconds" in rejected[0]["errors"]["timestamp"][0]


@pytest.mark.parametrize(
    ("item", "stored"),
    [
        # (what the device sent, the record's numbers: exactly what history then holds)
        (meter(kwh=0.1234567, voltage=230.004), [0.123457, 230.0]),
        (meter(kwh=0.0000004, voltage=230.005), [0.0, 230.01]),
        (meter(kwh=0.1 + 0.2, voltage=229.999), [0.3, 230.0]),
        (vehicle(kwh=1.0000005, soc=99.995, battery_temp=-10.005), [1.000001, 100.0, -10.01]),
        (vehicle(kwh=0.5, soc=0.004, battery_temp=-0.004), [0.5, 0.0, 0.0]),
    ],
)
def test_values_are_rounded_to_what_is_stored_half_away_from_zero(validator, item, stored):
    record = accepted(validator, item)
    assert record[-len(stored) :] == stored


@pytest.mark.parametrize(
    "item",
    [
        meter(voltage=0.004),  # 0.00 once rounded: not above 0
        meter(kwh=1000.0000005),  # 1000.000001: over MAX_KWH_PER_READING
        vehicle(soc=100.005),  # 100.01
    ],
)
def test_bounds_are_checked_on_the_rounded_value(validator, item):
    errors_of(validator, item)


@pytest.mark.parametrize("value", [4.695448674920742e307, -1.7e308, 6.5e-143, 2.0**53 + 2])
def test_any_float_is_rounded_or_refused_never_an_error(validator, value):
    validator.validate([vehicle(battery_temp=value), meter(kwh=value)])

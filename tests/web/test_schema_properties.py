"""Properties: no input makes ingest validation raise; each item is either kept or rejected; and
the common reading's plain checks and slimmer schema answer exactly what the kind's whole schema
answers."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from readings.validation import ReadingValidator
from settings import Settings
from tests.support.examples import examples

NOW = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)
VALIDATOR = ReadingValidator(Settings.from_env({"RETENTION_DAYS": "3650"}), clock=lambda: NOW)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = ["type", "meterId", "vehicleId", "kwhConsumedAc", "kwhDeliveredDc", "voltage", "soc",
        "batteryTemp", "timestamp", "extra", "kwhRegisterAc", "kwhRegisterDc"]  # fmt: skip
plausible = st.one_of(
    st.just("meter"),
    st.just("vehicle"),
    st.sampled_from(["M1", "V-2", "x" * 65, "", "bad id", "é"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["2026-02-10T14:00:00Z", "2026-02-10T14:00:00", "2026-13-01T00:00:00Z",
                     "2126-02-10T14:00:00Z", "1999-01-01T00:00:00+05:00", "yesterday"]),
    json_values,
)  # fmt: skip
# Objects shaped like readings, with any value in any known field: the tricky middle ground.
reading_like = st.dictionaries(st.sampled_from(KEYS), plausible, max_size=len(KEYS))


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(reading_like | json_values, max_size=6))
def test_validation_never_raises_and_accounts_for_every_item(items):
    records, rejected = VALIDATOR.validate(items)
    rejected_indexes = [r["index"] for r in rejected]
    assert len(records) + len(rejected) == len(items)
    assert rejected_indexes == sorted(set(rejected_indexes))
    for rejection in rejected:
        assert rejection["errors"], rejection  # a rejection always says why
    for record in records:
        assert record[0] in ("m", "v")


class _WholeSchemasOnly(ReadingValidator):
    """Every reading through its kind's whole schema, as before the common reading had its own
    schema and plain checks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._loaders = {(name, common): self.schemas[name] for name, common in self._loaders}
        self._checks = {}


WHOLE = _WholeSchemasOnly(Settings.from_env({"RETENTION_DAYS": "3650"}), clock=lambda: NOW)


# Readings that are mostly valid, numbers with any count of decimals (rounded on the way in),
# sometimes with `type` or a register: both paths through validation, kept and refused.
def at_places(low: int, high: int, places: int) -> st.SearchStrategy:
    """Numbers as devices send them: whole, or with no more decimals than are kept."""
    return st.integers(low, high) | st.integers(low * 10**places, high * 10**places).map(
        lambda n: n / 10**places
    )


# Any float (rounded on the way in), or one already at its places (the plain checks' path).
energy = (
    st.floats(min_value=-1, max_value=60, allow_nan=False)
    | at_places(-1, 60, 6)
    | st.integers(-(10**400), 10**400)
)
hundredths = at_places(-60, 1100, 2)
moments = st.sampled_from(
    ["2026-02-10T14:00:00Z", "2026-02-10T14:00:00.1234567Z", "2026-02-10T14:00:00+01:00",
     "2026-02-10T14:00:00.5+05:30", "2026-02-10 14:00:00Z", "2026-02-10T14:00:00",
     "2040-01-01T00:00:00Z", "2026-02-10T14:00:00+00:00:30", 1770732000, None]
)  # fmt: skip
meter_like = st.fixed_dictionaries(
    {
        "meterId": st.sampled_from(["M1", "M-2", "bad id", "M\n", 7]),
        "kwhConsumedAc": energy,
        "voltage": st.floats(min_value=0, max_value=1000) | hundredths | st.just(True),
        "timestamp": moments,
    },
    optional={
        "type": st.sampled_from(["meter", "vehicle"]),
        "kwhRegisterAc": st.integers(-1, 10**6),
    },
)
vehicle_like = st.fixed_dictionaries(
    {
        "vehicleId": st.sampled_from(["V1", "V.2", "x" * 65]),
        "meterId": st.just("M1"),
        "kwhDeliveredDc": energy,
        "soc": st.floats(min_value=-5, max_value=105) | hundredths,
        "batteryTemp": st.floats(min_value=-50, max_value=90) | hundredths,
        "timestamp": moments,
    },
    optional={"type": st.just("vehicle"), "kwhRegisterDc": st.floats(0, 10**6)},
)
near_valid = meter_like | vehicle_like


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(reading_like | near_valid, max_size=6))
def test_the_common_readings_schema_answers_what_the_whole_schema_answers(items):
    assert VALIDATOR.validate(items) == WHOLE.validate(items)


@settings(max_examples=examples(2000), deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=0, max_value=4))
def test_a_number_is_rounded_half_up_to_its_places_as_its_decimal_text_says(value, places):
    """The fast path (a float already at its places) and the exact one agree with the decimal the
    float's shortest text is, rounded half away from zero."""
    from decimal import ROUND_HALF_UP, Decimal

    from readings.fields import LARGEST_ROUNDED, Number

    field = Number(places)
    if abs(value) >= LARGEST_ROUNDED:
        assert field._validated(value) == value
        return
    expected = float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))
    assert field._validated(value) == expected

"""Property: no input makes ingest validation raise; each item is either kept or rejected."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from models.wire.validation import ReadingValidator
from settings import Settings

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
        "batteryTemp", "timestamp", "extra"]  # fmt: skip
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


@settings(max_examples=400, deadline=None)
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

"""Property: on random fleets of register readings (resets, glitches, gaps, duplicates, readings
of one identity with different registers, any arrival order, in batches), what PostgreSQL
serves equals the naive reference of docs/DESIGN.md's register and efficiency rules, and
history's intervals equal the reference's, reading by reading. Each example runs in a
savepoint rolled back after it."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, event, given, settings
from sqlalchemy import text

from efficiency.reference import efficiency, intervals, kept_readings
from tests.support.efficiency import assert_serves_reference, write_in_parts
from tests.support.examples import examples
from tests.support.register_fleets import AS_OF, fleets


def history_intervals(db) -> dict:
    out = {}
    for code, table, device, interval in (
        ("m", "meter_readings", "meter_id", "kwh_consumed_ac"),
        ("v", "vehicle_readings", "vehicle_id", "kwh_delivered_dc"),
    ):
        rows = db.execute(text(f"SELECT {device}, recorded_at, {interval} FROM {table}"))
        out.update({(code, r[0], r[1]): r[2] for r in rows})
    return out


@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No explain phase: it traces every line the example runs (Python 3.11), which took a
    # failing example past the test's timeout, and the timeout then hid the failure.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(fleet=fleets())
def test_postgres_matches_the_register_reference_on_random_fleets(db, fleet):
    arrival, cuts = fleet
    savepoint = db.begin_nested()
    try:
        write_in_parts(db, arrival, cuts, AS_OF, refreshes=4)
        derived = intervals(kept_readings(arrival))
        assert history_intervals(db) == derived
        expected = efficiency(arrival, AS_OF)
        assert_serves_reference(db, arrival, AS_OF)
        # What the examples exercise (pytest --hypothesis-show-statistics).
        event(f"vehicles with kept minutes: {min(len(expected), 2)}+")
        unknown = sum(v is None for v in derived.values())
        event(f"readings without a known interval: {min(unknown, 5)}+")
    finally:
        savepoint.rollback()

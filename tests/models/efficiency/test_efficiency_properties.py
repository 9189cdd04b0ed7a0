"""Property: on random fleets (shared meters, moves, jitter, duplicates, late data), what
PostgreSQL computes (incrementally, refreshed as data arrives) equals the naive reference of
DESIGN.md's rule. Each example runs in a savepoint rolled back after it."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.efficiency import assert_serves_reference, write_in_parts
from tests.support.examples import examples
from tests.support.factories import T0, meter_rec, vehicle_rec
from tests.support.sessions import assert_sessions_match

AS_OF = T0 + timedelta(hours=25)


@st.composite
def fleets(draw):
    """(readings in arrival order, refresh points): 3 meters, 4 vehicles, over 26 hours."""
    minutes = st.integers(min_value=0, max_value=26 * 60 - 1)
    readings = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        meter_id = f"M{draw(st.integers(0, 2))}"
        start, length = draw(minutes), draw(st.integers(1, 20))
        for minute in range(start, start + length):
            moment = T0 + timedelta(minutes=minute, seconds=draw(st.integers(0, 59)))
            readings.append(meter_rec(meter_id, moment, kwh=draw(st.sampled_from([0, 0.5, 1.25]))))
            if draw(st.booleans()):  # a second meter reading in the minute, sometimes
                readings.append(meter_rec(meter_id, moment + timedelta(milliseconds=300), kwh=0.3))
            vehicle_id = f"V{draw(st.integers(0, 3))}"  # moves, and shares a meter at times
            jitter = timedelta(seconds=draw(st.integers(-5, 5)))
            readings.append(
                vehicle_rec(vehicle_id, meter_id, moment + jitter, kwh=0.4,
                            soc=draw(st.integers(0, 100)), battery_temp=25.5)
            )  # fmt: skip
    # One reading per device and moment: a duplicate is the same reading again (DESIGN.md).
    readings = list({(r[0], r[2], r[1]): r for r in reversed(readings)}.values())
    duplicates = draw(st.lists(st.sampled_from(readings), max_size=10))
    arrival = draw(st.permutations(readings + duplicates))  # late and out of order
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=3)))
    return arrival, cuts


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fleet=fleets())
def test_postgres_matches_the_reference_on_random_fleets(db, fleet):
    arrival, cuts = fleet
    savepoint = db.begin_nested()
    try:
        write_in_parts(db, arrival, cuts, AS_OF)
        assert_serves_reference(db, arrival, AS_OF)
        assert_sessions_match(db, arrival)
    finally:
        savepoint.rollback()

"""The register rule as the writer applies it (docs/DESIGN.md, "Registers"): what history keeps
as each register reading's interval, case by case, whatever order the readings arrive in."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from efficiency.reference import intervals, kept_readings
from models.kinds import METER
from readings import current_state
from readings.registers import RECENT, RegisterRule
from readings.writer import write_batch
from tests.support.factories import T0, meter_rec, meter_reg, vehicle_reg


def s(seconds: float):
    return T0 + timedelta(seconds=seconds)


def stored(db, table="meter_readings", device="meter_id", interval="kwh_consumed_ac"):
    """{seconds after T0: interval} of history, None where not known."""
    rows = db.execute(
        text(f"SELECT recorded_at, {interval} FROM {table} WHERE {device} = 'M1' ORDER BY 1")
    ).all()
    return {(r[0] - T0).total_seconds(): r[1] for r in rows}


def expected(records):
    """The reference's intervals of the same readings, keyed like stored()."""
    derived = intervals(kept_readings(records))
    return {(k[2] - T0).total_seconds(): v for k, v in derived.items() if k[1] == "M1"}


CASES = {
    "steady": [(0, "100"), (60, "100.5"), (120, "101.25")],
    "gap": [(0, "100"), (60, "101"), (200, "102"), (260, "102.5")],
    "reset": [(0, "100"), (60, "101"), (120, "0.25"), (180, "0.75")],
    # Every 30 s: the reading after the glitch is within the gap of the one before it.
    "glitch": [(0, "100"), (30, "101"), (60, "0"), (90, "101.5"), (120, "102")],
    "glitch over the gap": [(0, "100"), (60, "101"), (120, "0"), (180, "101.5"), (240, "102")],
    "glitch at the end": [(0, "100"), (60, "101"), (120, "0")],
    "glitch then a gap": [(0, "100"), (60, "101"), (120, "0"), (240, "101.5")],
    "meter swapped": [(0, "100"), (60, "101"), (120, "5000"), (180, "5000.5")],
    "two drops": [(0, "100"), (60, "50"), (120, "20"), (180, "21")],
}


@pytest.mark.parametrize("name", CASES)
def test_in_order_every_interval_is_the_rules(db, name):
    records = [meter_reg("M1", s(t), register) for t, register in CASES[name]]
    write_batch(db, records)
    assert stored(db) == expected(records)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("name", CASES)
def test_in_order_a_few_at_a_time_every_interval_is_the_rules(db, name, size):
    """Batches of up to RECENT - 1 readings of a device in order take its past from current
    state's chain (readings/registers.py); four at a time, from history."""
    records = [meter_reg("M1", s(t), register) for t, register in CASES[name]]
    for i in range(0, len(records), size):
        write_batch(db, records[i : i + size])
    assert stored(db) == expected(records)
    chain = db.execute(
        text("SELECT recent_at, recent_register FROM meter_current_state WHERE meter_id = 'M1'")
    ).one()
    before = sorted(records, key=lambda r: r[1], reverse=True)[1 : 1 + RECENT]
    assert [t.isoformat() for t in chain.recent_at] == [r[1] for r in before]
    assert list(chain.recent_register) == [Decimal(r[-1]) for r in before]


# A device that sends interval readings among its registers: ("i", energy) is an interval one.
MIXED = {
    # The issue's case: 101.0 follows an interval reading, so its interval is not known
    # (docs/DESIGN.md, "Registers", rule 2), and its minute is not counted.
    "an interval between registers": [(-30, "99.5"), (5, "100"), (30, ("i", 0.5)), (50, "101")],
    "two intervals, then registers": [(0, ("i", 0.5)), (30, ("i", 0.25)), (60, "10"), (90, "11")],
    "a drop before an interval": [
        (0, "100"),
        (30, "101"),
        (60, "0"),
        (80, ("i", 0.5)),
        (90, "102"),
    ],
}


def _mixed(name: str) -> list:
    return [
        meter_rec("M1", s(t), kwh=v[1]) if isinstance(v, tuple) else meter_reg("M1", s(t), v)
        for t, v in MIXED[name]
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 10])
@pytest.mark.parametrize("name", MIXED)
def test_a_register_reading_after_an_interval_reading_has_no_known_interval(db, name, size):
    records = _mixed(name)
    for i in range(0, len(records), size):
        write_batch(db, records[i : i + size])
    assert stored(db) == expected(records)


def test_the_issue_case_counts_no_energy_twice(db):
    records = _mixed("an interval between registers")
    write_batch(db, records)
    # 100.0 at +5 s is 0.5 over 99.5; the interval reading 0.5; 101.0 not known.
    assert stored(db) == {-30.0: None, 5.0: Decimal("0.5"), 30.0: Decimal("0.5"), 50.0: None}


def test_in_order_readings_take_their_past_from_current_state_not_history(db):
    """History hidden after the first batch: the next readings, in order, still get their
    intervals, from the chain current state keeps; a late one finds no neighbours."""
    write_batch(db, [meter_reg("M1", s(0), "100"), meter_reg("M1", s(60), "101")])
    db.execute(text("DELETE FROM meter_readings"))
    write_batch(db, [meter_reg("M1", s(120), "103"), meter_reg("M1", s(180), "104")])
    assert stored(db) == {120: 2, 180: 1}
    write_batch(db, [meter_reg("M1", s(90), "102")])
    assert stored(db)[90] is None


def test_a_resend_of_the_newest_with_the_next_reading_still_settles_its_glitch(db):
    """The stored newest, a drop, sent again beside its successor (back above the value before
    the drop): a glitch. The chain cannot take the resend as new (found by the property test)."""
    write_batch(db, [meter_reg("M1", s(t), r) for t, r in [(0, "100"), (30, "101"), (60, "0")]])
    write_batch(db, [meter_reg("M1", s(60), "0"), meter_reg("M1", s(90), "101.5")])
    assert stored(db) == {0: None, 30: 1, 60: None, 90: Decimal("0.5")}


def test_the_newest_replaced_by_a_lesser_reading_of_its_identity_rederives_its_predecessor(db):
    """A second reading of the newest's identity with a lesser register (kept: the least) turns
    its predecessor from a glitch back into a reset."""
    write_batch(db, [meter_reg("M1", s(t), r) for t, r in [(0, "100"), (30, "101"), (60, "0")]])
    write_batch(db, [meter_reg("M1", s(90), "101.5")])
    write_batch(db, [meter_reg("M1", s(90), "0.5")])
    records = [meter_reg("M1", s(t), r) for t, r in [(0, "100"), (30, "101"), (60, "0")]]
    assert stored(db) == expected([*records, meter_reg("M1", s(90), "0.5")])
    assert stored(db)[60] == 0


def test_the_cases_mean_what_design_says(db):
    """A few of the cases' figures written out, so that the reference is checked too."""
    for name, want in (
        ("steady", {0: None, 60: Decimal("0.5"), 120: Decimal("0.75")}),
        ("reset", {0: None, 60: 1, 120: Decimal("0.25"), 180: Decimal("0.5")}),
        ("glitch", {0: None, 30: 1, 60: None, 90: Decimal("0.5"), 120: Decimal("0.5")}),
        # Against the reading before the drop, 120 s earlier: over the gap, so not known.
        ("glitch over the gap", {0: None, 60: 1, 120: None, 180: None, 240: Decimal("0.5")}),
        ("glitch at the end", {0: None, 60: 1, 120: 0}),  # a reset until its successor comes
        ("glitch then a gap", {0: None, 60: 1, 120: 0, 240: None}),
        ("meter swapped", {0: None, 60: 1, 120: None, 180: Decimal("0.5")}),
        ("gap", {0: None, 60: 1, 200: None, 260: Decimal("0.5")}),
    ):
        savepoint = db.begin_nested()
        write_batch(db, [meter_reg("M1", s(t), register) for t, register in CASES[name]])
        assert stored(db) == want, name
        savepoint.rollback()


@pytest.mark.parametrize("name", ["glitch", "reset", "gap", "two drops"])
def test_every_arrival_order_gives_the_in_order_intervals(db, name):
    records = [meter_reg("M1", s(t), register) for t, register in CASES[name]]
    want = expected(records)
    for order in itertools.permutations(records):
        savepoint = db.begin_nested()
        for record in order:  # one batch each: each arrives after the others are stored
            write_batch(db, [record])
        assert stored(db) == want, order
        savepoint.rollback()


def test_a_late_reading_rederives_its_successor_and_marks_its_minute(db):
    write_batch(db, [meter_reg("M1", s(0), "100"), meter_reg("M1", s(120), "102")])
    assert stored(db)[120] is None  # 120 s after its predecessor: over the gap
    db.execute(text("DELETE FROM dirty_minutes"))
    write_batch(db, [meter_reg("M1", s(60), "101")])
    assert stored(db) == {0: None, 60: 1, 120: 1}
    marked = db.execute(text("SELECT DISTINCT minute FROM dirty_minutes ORDER BY 1")).scalars()
    assert list(marked) == [s(60), s(120)]  # the late reading's minute, and its successor's


def test_a_resent_reading_is_stored_once_and_a_different_one_keeps_the_least(db):
    records = [meter_reg("M1", s(0), "100"), meter_reg("M1", s(60), "101")]
    write_batch(db, records)
    write_batch(db, records)
    write_batch(db, [meter_reg("M1", s(60), "100.5")])  # one identity, a lower register
    write_batch(db, [meter_reg("M1", s(60), "102")])  # and a higher one: not kept
    rows = db.execute(text("SELECT kwh_register_ac, kwh_consumed_ac FROM meter_readings")).all()
    assert sorted(rows) == [(Decimal("100"), None), (Decimal("100.5"), Decimal("0.5"))]


def test_current_state_shows_the_register_and_its_derived_interval(db):
    write_batch(db, [meter_reg("M1", s(60), "101", voltage=231.5)])
    assert current_state.newest(db, METER, "M1")["kwh_consumed_ac"] is None
    write_batch(db, [meter_reg("M1", s(0), "100")])  # late: the newest's interval is now known
    row = current_state.newest(db, METER, "M1")
    assert (row["kwh_register_ac"], row["kwh_consumed_ac"], row["voltage_hundredths"]) == (
        Decimal("101"),
        Decimal("1"),
        23150,
    )
    assert row["recorded_at"] == s(60)


def test_a_register_reading_without_voltage_keeps_it_unknown_not_zero(db):
    write_batch(db, [meter_reg("M1", s(0), "100")])
    voltage = db.execute(text("SELECT voltage_hundredths FROM meter_readings")).scalar_one()
    assert voltage is None


def test_an_interval_reading_of_another_device_is_not_read(db):
    """Only the device's own register readings are its neighbours."""
    write_batch(db, [meter_rec("M2", s(30), kwh=1.0), meter_reg("M2", s(40), "7")])
    write_batch(db, [meter_reg("M1", s(0), "100"), meter_reg("M1", s(60), "101")])
    assert stored(db) == {0: None, 60: 1}


def test_vehicle_registers_follow_the_same_rule(db):
    records = [vehicle_reg("V1", "M1", s(t), register) for t, register in CASES["glitch"]]
    write_batch(db, records[::-1])
    rows = db.execute(
        text("SELECT recorded_at, kwh_delivered_dc FROM vehicle_readings ORDER BY 1")
    ).all()
    derived = intervals(kept_readings(records))
    assert {r[0]: r[1] for r in rows} == {k[2]: v for k, v in derived.items()}
    assert [r[1] for r in rows] == [None, 1, None, Decimal("0.5"), Decimal("0.5")]


def test_the_gap_and_the_largest_interval_come_from_the_settings(db):
    write_batch(
        db,
        [
            meter_reg("M1", s(0), "100"),
            meter_reg("M1", s(100), "101"),
            meter_reg("M1", s(200), "150"),
        ],
        RegisterRule(gap_seconds=120, max_kwh=10),
    )
    assert stored(db) == {0: None, 100: 1, 200: None}  # 49 kWh in one reading: not known


def test_concurrent_writers_of_one_device_store_the_in_order_intervals(clean_db):
    """Two consumers committing batches of one device's readings at once, in an order where
    each batch's neighbours are in the other's: the device's row lock serialises them."""
    import random
    import threading

    times = [i * 30 for i in range(60)]
    values = [Decimal(100) + i for i in range(60)]
    values[20] = Decimal(0)  # a glitch
    values[40:] = [Decimal(i) for i in range(20)]  # a reset
    records = [meter_reg("M1", s(t), v) for t, v in zip(times, values, strict=True)]
    shuffled = random.Random(5).sample(records, len(records))
    halves = [shuffled[0::2], shuffled[1::2]]
    failures = []

    def write(part):
        try:
            for i in range(0, len(part), 3):
                with clean_db.begin() as conn:
                    write_batch(conn, part[i : i + 3])
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    with clean_db.connect() as conn:
        assert stored(conn) == expected(records)

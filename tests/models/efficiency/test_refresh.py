"""The incremental refresh equals a full recomputation, on fleets with late and duplicate data."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from efficiency import contributions, refresh
from readings.writer import write_batch
from simulator.fleet import Fleet, FleetSpec
from tests.support.efficiency import (
    assert_rollups_sum_the_minutes,
    assert_same,
    assert_serves_reference,
    served,
)
from tests.support.factories import T0, at, meter_rec, vehicle_rec


@pytest.mark.parametrize(("seed", "chunk"), [(1, 30), (2, 30), (3, 2)])
def test_incremental_refresh_matches_full_recomputation_on_a_random_fleet(
    db, seed, chunk, monkeypatch
):
    # chunk 2: every refresh recomputes its minutes over several chunks.
    monkeypatch.setattr(refresh, "CHUNK_MINUTES", chunk)
    spec = FleetSpec(
        meters=12,
        vehicles=16,
        minutes=26 * 60,
        seed=seed,
        share=0.2,
        duplicate=0.05,
        offline=0.01,
        session_minutes=(5, 40),
    )
    fleet = Fleet(spec)
    rng = random.Random(seed)
    arrived: list = []
    batch: list = []
    refreshes = checks = 0
    for minute, readings in fleet.minutes():
        batch += [r.record() for r in readings]
        if minute % 5 and minute != spec.minutes:
            continue
        rng.shuffle(batch)
        write_batch(db, batch)
        arrived, batch = arrived + batch, []
        # Refresh at uneven intervals, as a beat that sometimes runs late would.
        if rng.random() < 0.4 or minute == spec.minutes:
            as_of = spec.start + timedelta(minutes=minute, seconds=rng.uniform(0, 59))
            result = refresh.refresh(db, as_of)
            assert result is not None
            refreshes += 1
            if rng.random() < 0.1 or minute == spec.minutes:
                assert_serves_reference(db, arrived, as_of)
                checks += 1
    assert refreshes > 50
    assert checks > 3
    assert result is not None
    assert result.mode == "incremental"

    incremental = served(db)
    assert_rollups_sum_the_minutes(db)
    refresh.refresh(db, as_of, full=True)
    assert_same(served(db), incremental)
    assert_rollups_sum_the_minutes(db)


def test_window_can_move_back_and_jump(db):
    write_batch(db, [meter_rec("M1", at(0), kwh=1.0), vehicle_rec("V1", "M1", at(0, 30), kwh=0.9)])
    late = T0 + timedelta(days=3)
    write_batch(db, [meter_rec("M1", late, kwh=2.0), vehicle_rec("V1", "M1", late, kwh=1.0)])
    records = [
        meter_rec("M1", at(0), kwh=1.0),
        vehicle_rec("V1", "M1", at(0, 30), kwh=0.9),
        meter_rec("M1", late, kwh=2.0),
        vehicle_rec("V1", "M1", late, kwh=1.0),
    ]
    for as_of in (
        late + timedelta(minutes=5),
        T0 + timedelta(hours=2),
        T0 + timedelta(minutes=1),
        late + timedelta(hours=23),
    ):
        result = refresh.refresh(db, as_of)
        assert result is not None
        assert_serves_reference(db, records, as_of)


def test_refresh_recomputes_only_minutes_that_received_readings(db):
    write_batch(db, [meter_rec(f"M{i}", at(m)) for i in range(3) for m in range(30)])
    first = refresh.refresh(db, T0 + timedelta(hours=1))
    assert first is not None
    assert first.recomputed_minutes == 30
    again = refresh.refresh(db, T0 + timedelta(hours=1, minutes=1))
    assert again is not None
    assert (again.recomputed_minutes, again.mode) == (0, "incremental")
    write_batch(db, [meter_rec("M1", at(31)), vehicle_rec("V1", "M1", at(31))])
    after = refresh.refresh(db, T0 + timedelta(hours=1, minutes=2))
    assert after is not None
    assert (after.recomputed_minutes, after.mode) == (1, "incremental")
    assert after.vehicles == 1


def test_only_one_refresh_runs_at_a_time(clean_db):
    with clean_db.connect() as holder:
        holder.begin()
        assert refresh.refresh(holder, T0) is not None  # holds the lock until it ends
        with clean_db.begin() as other:
            assert refresh.refresh(other, T0, wait=False) is None
        holder.rollback()
    with clean_db.begin() as other:
        assert refresh.refresh(other, T0, wait=False) is not None


def test_minutes_are_recomputed_in_runs_of_consecutive_minutes():
    minutes = [at(m, 0) for m in (0, 1, 2, 3, 4, 9, 11, 12)]
    assert contributions.runs(minutes, 3) == [
        (at(0, 0), at(3, 0)),
        (at(3, 0), at(5, 0)),
        (at(9, 0), at(10, 0)),
        (at(11, 0), at(13, 0)),
    ]
    assert contributions.runs([], 3) == []


def test_a_run_never_crosses_midnight_as_each_fills_one_day_partition():
    midnight = datetime(2030, 6, 2, tzinfo=UTC)
    minutes = [midnight + timedelta(minutes=m) for m in (-2, -1, 0, 1)]
    assert contributions.runs(minutes, 15) == [
        (midnight - timedelta(minutes=2), midnight),
        (midnight, midnight + timedelta(minutes=2)),
    ]


def test_window_slides_by_the_minutes_entering_and_leaving_only():
    old, new = (at(0, 0), at(60, 0)), (at(1, 0), at(61, 0))
    assert refresh._outside(new, old) == [(at(60, 0), at(61, 0))]  # entered
    assert refresh._outside(old, new) == [(at(0, 0), at(1, 0))]  # left
    back = (at(-5, 0), at(55, 0))
    assert refresh._outside(back, old) == [(at(-5, 0), at(0, 0))]
    assert refresh._outside(old, back) == [(at(55, 0), at(60, 0))]
    far = (at(500, 0), at(560, 0))
    assert refresh._outside(far, old) == [far]

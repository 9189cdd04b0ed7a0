"""DESIGN.md's efficiency rule on hand-checked cases, for the reference and for the real refresh.

Each case runs twice: on efficiency/reference.py (plain Python over the readings), and on
PostgreSQL (readings written by the worker's writer, figures made by the refresh and read back
as the API serves them), inside a transaction rolled back after the test.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from efficiency import refresh
from efficiency.reference import efficiency
from readings.records import Record
from readings.validation import ReadingValidator
from readings.writer import write_batch
from settings import Settings
from tests.support import seed
from tests.support.efficiency import SEVEN, close
from tests.support.factories import T0, at, meter_rec, vehicle_rec
from web.contract import responses

AS_OF = T0 + timedelta(hours=1)


def in_postgres(conn, records: list[Record], as_of: datetime) -> dict[str, dict[str, Any]]:
    write_batch(conn, records)
    refresh.refresh(conn, as_of)
    ids = conn.execute(text("SELECT vehicle_id FROM vehicle_efficiency_24h")).scalars()
    rows = {v: refresh.read(conn, v) for v in ids}
    views = {v: responses.performance(row) for v, row in rows.items() if row is not None}
    return {v: {k: view[k] for k in SEVEN} for v, view in views.items() if view}


@pytest.fixture(params=["reference", "postgres"])
def compute(request):
    if request.param == "reference":
        return efficiency
    conn = request.getfixturevalue("db")
    return lambda records, as_of: in_postgres(conn, records, as_of)


def figures(ac: float, dc: float, soc: float, temp: float, vehicle: str = "V1") -> dict[str, Any]:
    return {
        "vehicleId": vehicle,
        "timeWindowHours": 24,
        "totalAcConsumedKwh": ac,
        "totalDcDeliveredKwh": dc,
        "chargingEfficiency": dc / ac,
        "averageSoc": soc,
        "averageBatteryTemp": temp,
    }


def test_seed_sample_gives_the_published_figures(compute):
    now = datetime.fromisoformat(seed.AS_OF)
    records, rejected = ReadingValidator(Settings(), clock=lambda: now).validate(seed.readings())
    assert rejected == []
    result = compute(records, now)
    assert set(result) == {"V1", "V2"}
    for vehicle_id, expected in seed.EXPECTED.items():
        assert close(result[vehicle_id], expected), result[vehicle_id]


def test_meter_shared_by_two_vehicles_in_a_minute_counts_for_neither(compute):
    records = [
        meter_rec("M1", at(0), kwh=1.0),
        meter_rec("M1", at(1), kwh=1.0),
        meter_rec("M1", at(2), kwh=1.0),
        vehicle_rec("V1", "M1", at(0, 20), kwh=0.9),
        vehicle_rec("V2", "M1", at(0, 30), kwh=0.8),
        vehicle_rec("V1", "M1", at(1, 20), kwh=0.9),
        vehicle_rec("V2", "M1", at(1, 30), kwh=0.8),
        vehicle_rec("V1", "M1", at(2, 20), kwh=0.9, soc=60, battery_temp=31),
    ]
    result = compute(records, AS_OF)
    assert set(result) == {"V1"}, "V2 only ever shared M1, so it has no kept minute"
    assert close(result["V1"], figures(1.0, 0.9, 60.0, 31.0))


def test_vehicle_moving_between_meters_is_matched_to_each_in_turn(compute):
    records = [
        meter_rec("M1", at(0), kwh=1.0),
        meter_rec("M1", at(1), kwh=1.0),
        meter_rec("M2", at(2), kwh=2.0),
        meter_rec("M2", at(3), kwh=2.0),
        meter_rec("M1", at(2), kwh=0.5),
        meter_rec("M1", at(3), kwh=0.5),
        vehicle_rec("V1", "M1", at(0, 30), kwh=0.9),
        vehicle_rec("V1", "M1", at(1, 30), kwh=0.9),
        vehicle_rec("V1", "M2", at(2, 30), kwh=1.8),
        vehicle_rec("V1", "M2", at(3, 30), kwh=1.8),
        # Once V1 has left M1, V2 charges from it alone.
        vehicle_rec("V2", "M1", at(2, 40), kwh=0.4),
        vehicle_rec("V2", "M1", at(3, 40), kwh=0.4),
    ]
    result = compute(records, AS_OF)
    assert close(result["V1"], figures(6.0, 5.4, 50.0, 30.0))
    assert close(result["V2"], figures(1.0, 0.8, 50.0, 30.0, vehicle="V2"))


def test_minute_with_two_meter_readings_sums_them_without_doubling_dc(compute):
    records = [
        meter_rec("M1", at(0, 10), kwh=0.5),
        meter_rec("M1", at(0, 40), kwh=0.6),
        vehicle_rec("V1", "M1", at(0, 30), kwh=0.99, soc=40, battery_temp=30),
        # And the other way round: two vehicle readings against one meter reading.
        meter_rec("M1", at(1, 5), kwh=1.0),
        vehicle_rec("V1", "M1", at(1, 15), kwh=0.45, soc=41, battery_temp=31),
        vehicle_rec("V1", "M1", at(1, 45), kwh=0.45, soc=42, battery_temp=32),
    ]
    result = compute(records, AS_OF)
    assert close(result["V1"], figures(2.1, 1.89, 41.0, 31.0))


def test_vehicle_minute_without_a_meter_reading_is_not_counted(compute):
    records = [
        meter_rec("M1", at(0), kwh=1.0),
        meter_rec("M1", at(2), kwh=1.0),
        vehicle_rec("V1", "M1", at(0, 30), kwh=0.9, soc=10),
        vehicle_rec("V1", "M1", at(1, 30), kwh=5.0, soc=99),
        vehicle_rec("V1", "M1", at(2, 30), kwh=0.9, soc=20),
    ]
    result = compute(records, AS_OF)
    assert close(result["V1"], figures(2.0, 1.8, 15.0, 30.0))


def test_duplicate_readings_count_once(compute):
    once = [meter_rec("M1", at(0), kwh=1.0), vehicle_rec("V1", "M1", at(0, 30), kwh=0.9)]
    result = compute(once * 3, AS_OF)
    assert close(result["V1"], figures(1.0, 0.9, 50.0, 30.0))


def test_readings_outside_the_24h_window_are_left_out(compute):
    as_of = T0 + timedelta(hours=25, seconds=30)  # window: [T0+1h, T0+25h)
    records = [
        # Older than 24 h.
        meter_rec("M1", at(0), kwh=7.0),
        vehicle_rec("V1", "M1", at(0, 30), kwh=7.0),
        # The window's first minute is in.
        meter_rec("M1", at(60, 0), kwh=1.0),
        vehicle_rec("V1", "M1", at(60, 1), kwh=0.9),
        # The minute in progress at as_of is not complete, so not yet counted.
        meter_rec("M1", at(25 * 60, 5), kwh=3.0),
        vehicle_rec("V1", "M1", at(25 * 60, 6), kwh=3.0),
    ]
    result = compute(records, as_of)
    assert close(result["V1"], figures(1.0, 0.9, 50.0, 30.0))


def test_vehicle_without_any_kept_minute_has_no_figures(compute):
    records = [vehicle_rec("V3", "M9", at(0)), meter_rec("M1", at(0))]
    assert compute(records, AS_OF) == {}

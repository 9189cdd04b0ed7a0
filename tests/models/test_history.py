"""The batch writer against real PostgreSQL: history once, current state only forward."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text

from models.kinds import METER, VEHICLE
from readings import current_state
from readings.writer import write_batch
from tests.support.factories import at, meter_rec, vehicle_rec
from web.contract import responses


def count(conn, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_same_batch_twice_is_stored_once(db):
    batch = [meter_rec("M1", at(0)), meter_rec("M2", at(0)), vehicle_rec("V1", "M1", at(0))]
    first = write_batch(db, batch)
    second = write_batch(db, batch)
    assert (first.inserted, first.duplicates) == (3, 0)
    assert (second.inserted, second.duplicates) == (0, 3)
    assert count(db, "meter_readings") == 2
    assert count(db, "vehicle_readings") == 1


def test_duplicates_inside_one_batch_are_stored_once(db):
    reading = vehicle_rec("V1", "M1", at(0))
    result = write_batch(db, [reading, reading, reading])
    assert result.inserted == 1
    assert count(db, "vehicle_readings") == 1


def test_history_keeps_exact_values(db):
    write_batch(
        db,
        [
            meter_rec("M1", at(0), kwh=0.4796, voltage=232.34),
            vehicle_rec("V1", "M1", at(0), kwh=0.4227, soc=20.7, battery_temp=-5.25),
        ],
    )
    m = db.execute(text("SELECT kwh_consumed_ac, voltage_hundredths FROM meter_readings")).one()
    assert m == (Decimal("0.479600"), 23234)
    v = db.execute(
        text(
            "SELECT kwh_delivered_dc, soc_hundredths, battery_temp_hundredths FROM vehicle_readings"
        )
    ).one()
    assert v == (Decimal("0.422700"), 2070, -525)


def test_current_state_takes_the_newest_reading_whatever_the_order(db):
    newest = vehicle_rec("V1", "M2", at(5), kwh=0.3, soc=80)
    # Newest first, then older ones in later batches (late deliveries) and a redelivery.
    write_batch(db, [newest])
    write_batch(
        db, [vehicle_rec("V1", "M1", at(1), soc=10), vehicle_rec("V1", "M1", at(3), soc=30)]
    )
    write_batch(db, [vehicle_rec("V1", "M1", at(4), soc=40), newest])
    row = current_state.newest(db, VEHICLE, "V1")
    assert row is not None
    state = responses.state(VEHICLE, row)
    assert (state["meterId"], state["soc"], state["kwhDeliveredDc"]) == ("M2", 80.0, 0.3)
    assert state["timestamp"] == at(5).isoformat().replace("+00:00", "Z")
    assert count(db, "vehicle_readings") == 4


def test_current_state_moves_forward_within_one_batch(db):
    write_batch(
        db,
        [
            meter_rec("M1", at(2), kwh=2.0),
            meter_rec("M1", at(9), kwh=9.0),
            meter_rec("M1", at(4), kwh=4.0),
        ],
    )
    row = current_state.newest(db, METER, "M1")
    assert row is not None
    state = responses.state(METER, row)
    assert state["kwhConsumedAc"] == 9.0
    write_batch(db, [meter_rec("M1", at(10), kwh=10.0, voltage=229.5)])
    row = current_state.newest(db, METER, "M1")
    assert row is not None
    state = responses.state(METER, row)
    assert (state["kwhConsumedAc"], state["voltage"]) == (10.0, 229.5)


def test_unknown_device_has_no_current_state(db):
    assert current_state.newest(db, METER, "nope") is None
    assert current_state.newest(db, VEHICLE, "nope") is None


def test_each_batch_marks_the_minutes_it_wrote(db):
    write_batch(
        db,
        [meter_rec("M1", at(0, 5)), meter_rec("M2", at(0, 50)), vehicle_rec("V1", "M1", at(3, 1))],
    )
    minutes = db.execute(text("SELECT DISTINCT minute FROM dirty_minutes ORDER BY 1")).scalars()
    assert list(minutes) == [at(0, 0), at(3, 0)]


def test_reading_for_a_day_without_partition_is_stored_in_the_default_one(db):
    far = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)
    write_batch(db, [meter_rec("M1", far)])
    assert count(db, "meter_readings_default") == 1
    assert count(db, "meter_readings") == 1


def test_two_readings_with_one_identity_keep_the_first_received_everywhere(db):
    """Same device, same timestamp, different values, in one batch: history and current state
    keep the same one (the first received), whatever order the database sorts them in."""
    batch = []
    for device in range(20):
        for kwh in (1.0, 2.0, 3.0):
            batch.append(meter_rec(f"M{device}", at(5), kwh=kwh))
            batch.append(vehicle_rec(f"V{device}", "M0", at(5), kwh=kwh, soc=kwh * 10))
    result = write_batch(db, batch)
    assert result.inserted == 40
    history = db.execute(
        text(
            "SELECT meter_id, kwh_consumed_ac FROM meter_readings UNION ALL "
            "SELECT vehicle_id, kwh_delivered_dc FROM vehicle_readings"
        )
    ).all()
    state = db.execute(
        text(
            "SELECT meter_id, kwh_consumed_ac FROM meter_current_state UNION ALL "
            "SELECT vehicle_id, kwh_delivered_dc FROM vehicle_current_state"
        )
    ).all()
    assert sorted(history) == sorted(state)
    assert {float(kwh) for _, kwh in history} == {1.0}


def test_a_later_reading_with_a_stored_identity_changes_neither_history_nor_state(db):
    write_batch(db, [meter_rec("M1", at(5), kwh=1.0)])
    write_batch(db, [meter_rec("M1", at(5), kwh=7.0)])
    assert db.execute(text("SELECT kwh_consumed_ac FROM meter_readings")).scalar_one() == 1
    assert db.execute(text("SELECT kwh_consumed_ac FROM meter_current_state")).scalar_one() == 1


def test_every_batch_takes_current_state_locks_in_one_kind_order(clean_db):
    """Two consumers whose batches start with different kinds must not lock current-state rows
    in opposite orders (PostgreSQL would kill one as a deadlock, a second later). A batch that
    starts with a vehicle reading still takes its meter rows first: while the meter's row is held
    elsewhere, the writer waits there without having locked the vehicle's row."""
    with clean_db.begin() as conn:
        write_batch(conn, [meter_rec("M1", at(0)), vehicle_rec("V1", "M1", at(0))])
    holder = clean_db.connect()
    holder_tx = holder.begin()
    holder.execute(text("SELECT 1 FROM meter_current_state WHERE meter_id = 'M1' FOR UPDATE"))
    writer = clean_db.connect()
    writer_tx = writer.begin()
    writer_pid = writer.execute(text("SELECT pg_backend_pid()")).scalar_one()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            write_batch(writer, [vehicle_rec("V1", "M1", at(1)), meter_rec("M1", at(1))])
        except BaseException as exc:  # reported by the assertion below
            failed.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        with clean_db.connect() as probe:
            deadline = time.monotonic() + 10
            while not probe.execute(
                text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                {"p": writer_pid},
            ).scalar_one():
                assert time.monotonic() < deadline, "the writer never waited on the meter's row"
                time.sleep(0.05)
            probe.rollback()
            with probe.begin():
                free = probe.execute(
                    text(
                        "SELECT vehicle_id FROM vehicle_current_state WHERE vehicle_id = 'V1' "
                        "FOR UPDATE SKIP LOCKED"
                    )
                ).all()
        assert free == [("V1",)], "the writer locked the vehicle's row before the meter's"
    finally:
        holder_tx.rollback()
        holder.close()
        thread.join(10)
        writer_tx.rollback()
        writer.close()
    assert not failed

"""Day partitions: every accepted day made ahead, late rows moved out of the default one, expired
ones dropped by the database's clock, and no valid reading refused while a partition is made."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import jobs
from buffer.stream import IngestStream
from efficiency import refresh
from models.schema import PARTITIONED
from readings.writer import write_batch
from storage import partitions
from tests.support.efficiency import fleet_records
from tests.support.factories import meter_rec, vehicle_rec
from tests.support.helpers import stored_readings
from workers import resources, store, tasks
from workers.consumer import Consumer

TODAY = date(2030, 3, 15)


def days(engine, table: str) -> set[date]:
    with engine.connect() as conn:
        return partitions.existing_days(conn, table)


def database_today(engine) -> date:
    with engine.connect() as conn:
        return partitions.database_today(conn)


@pytest.fixture
def no_partitions(clean_db):
    """Start from only the default partitions, and leave only those behind."""

    def drop_all() -> None:
        for table in PARTITIONED:
            for day in days(clean_db, table):
                with clean_db.begin() as conn:
                    conn.execute(text(f"DROP TABLE {partitions.partition_name(table, day)}"))

    drop_all()
    yield clean_db
    drop_all()


def test_every_day_a_reading_can_be_accepted_for_has_its_partition(no_partitions):
    result = partitions.maintain(no_partitions, days_ahead=2, retention_days=5, today=TODAY)
    expected = {TODAY + timedelta(days=n) for n in range(-5, 3)}
    for table in PARTITIONED:
        assert days(no_partitions, table) == expected
    assert len(result.created) == len(PARTITIONED) * len(expected)
    again = partitions.maintain(no_partitions, days_ahead=2, retention_days=5, today=TODAY)
    assert again.created == []


def test_partitions_are_made_back_only_partition_days_back_and_older_rows_wait_in_default(
    no_partitions, settings
):
    short = settings.replace(retention_days=30, partition_days_back=3, partition_days_ahead=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(partitions, "database_today", lambda conn: TODAY)
        jobs.maintain_partitions(no_partitions, short)
        expected = {TODAY + timedelta(days=n) for n in range(-3, 2)}
        assert days(no_partitions, "meter_readings") == expected
        late = datetime(2030, 3, 5, 8, 30, tzinfo=UTC)  # ten days back: accepted, not premade
        with no_partitions.begin() as conn:
            write_batch(conn, [meter_rec("M1", late)])
            assert partitions.days_in_default(conn, "meter_readings") == {late.date()}
        jobs.maintain_partitions(no_partitions, short)
    assert days(no_partitions, "meter_readings") == expected | {late.date()}
    with no_partitions.connect() as conn:
        assert partitions.days_in_default(conn, "meter_readings") == set()
    assert stored_readings(no_partitions) == 1


def test_one_maintenance_at_a_time_across_hosts(no_partitions):
    # Another host's run holds the lock: this one does nothing, and says so.
    with no_partitions.connect() as other, other.begin():
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": partitions.LOCK_KEY})
        busy = partitions.maintain(no_partitions, days_ahead=2, retention_days=5, today=TODAY)
    assert busy.skipped
    assert busy.created == []
    assert days(no_partitions, "meter_readings") == set()
    done = partitions.maintain(no_partitions, days_ahead=2, retention_days=5, today=TODAY)
    assert not done.skipped
    assert done.created


def test_a_backfill_within_retention_goes_straight_to_its_days_partition(no_partitions):
    partitions.maintain(no_partitions, days_ahead=1, retention_days=10, today=TODAY)
    late = datetime(2030, 3, 6, 8, 30, tzinfo=UTC)  # nine days back
    with no_partitions.begin() as conn:
        write_batch(conn, [meter_rec("M1", late)])
    with no_partitions.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM meter_readings_default")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM meter_readings_p20300306")).scalar() == 1


def test_rows_in_the_default_partition_move_to_their_days_partition(no_partitions):
    late = datetime(2030, 3, 2, 8, 30, tzinfo=UTC)
    with no_partitions.begin() as conn:
        write_batch(conn, [meter_rec("M1", late), vehicle_rec("V1", "M1", late)])
    result = partitions.maintain(no_partitions, days_ahead=0, retention_days=30, today=TODAY)
    assert "meter_readings_p20300302" in result.created
    assert result.moved_rows == 2
    with no_partitions.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM meter_readings_default")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM meter_readings_p20300302")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM vehicle_readings")).scalar() == 1


def test_partitions_past_retention_are_dropped_and_current_ones_stay(no_partitions):
    old = datetime(2030, 2, 1, 12, 0, tzinfo=UTC)
    recent = datetime(2030, 3, 10, 12, 0, tzinfo=UTC)
    with no_partitions.begin() as conn:
        write_batch(conn, [meter_rec("M1", old), meter_rec("M1", recent)])
    partitions.maintain(no_partitions, days_ahead=0, retention_days=60, today=TODAY)
    assert date(2030, 2, 1) in days(no_partitions, "meter_readings")
    result = partitions.maintain(no_partitions, days_ahead=0, retention_days=30, today=TODAY)
    assert "meter_readings_p20300201" in result.dropped
    assert all(name < "meter_readings_p20300213" for name in result.dropped if "meter" in name)
    assert date(2030, 2, 1) not in days(no_partitions, "meter_readings")
    with no_partitions.connect() as conn:
        remaining = conn.execute(text("SELECT recorded_at FROM meter_readings")).scalars()
        assert list(remaining) == [recent]


def test_retention_follows_the_database_clock_not_the_workers(no_partitions, monkeypatch, settings):
    """A worker whose clock steps a month ahead must not drop today's history."""
    now = datetime.now(UTC).replace(microsecond=0)
    partitions.maintain(no_partitions, days_ahead=1, retention_days=7)
    with no_partitions.begin() as conn:
        write_batch(conn, [meter_rec("M-today", now - timedelta(minutes=5))])
    monkeypatch.setattr(resources, "engine", lambda: no_partitions)
    monkeypatch.setattr(tasks, "get_settings", lambda: settings.replace(retention_days=7))
    with time_machine.travel(now + timedelta(days=31), tick=True):
        assert datetime.now(UTC) > now + timedelta(days=30)  # the worker's clock did step
        outcome = tasks.maintain_partitions.apply().get()
    today = database_today(no_partitions)
    assert partitions.partition_name("meter_readings", today) not in outcome["dropped"]
    assert today in days(no_partitions, "meter_readings")
    assert stored_readings(no_partitions) == 1


def test_a_row_meeting_a_partition_changed_under_it_is_written_again_not_dead_lettered(
    no_partitions, stream: IngestStream, settings, monkeypatch
):
    """Seen under a backfill (tests/faults/test_backfill.py): a writer routes a row to the
    default partition while maintenance attaches that day's partition, and PostgreSQL refuses
    the row with 23514 'violates partition constraint'. That is the database changing under the
    batch, not the reading: the batch is written again, and lands in the day's partition."""
    day = date(2030, 5, 20)
    partitions.maintain(no_partitions, days_ahead=0, retention_days=2, today=day)
    real = store.write_batch
    raised: list[str] = []

    def write_batch_meeting_a_moved_partition(conn, records, rule):
        if not raised:  # the first attempt meets that refusal, from PostgreSQL itself
            try:
                conn.execute(
                    text(
                        "INSERT INTO meter_readings_p20300520 VALUES "
                        "('2030-05-21 00:00:01+00', 23000, 'M-moved', 0.5)"
                    )
                )
            except IntegrityError as exc:
                raised.append(str(exc.orig))
                raise
        return real(conn, records, rule)

    monkeypatch.setattr(store, "write_batch", write_batch_meeting_a_moved_partition)
    stream.add([meter_rec("M1", datetime(2030, 5, 20, 10, 0, tzinfo=UTC))], bound=100)
    consumer = Consumer("host#0", stream, no_partitions, settings.replace(max_deliveries=1))
    assert consumer.process(consumer.collect(), threading.Event())
    assert "violates partition constraint" in raised[0]
    assert stored_readings(no_partitions) == 1
    with no_partitions.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dead_letters")).scalar() == 0
    assert stream.stats().pending == 0


def test_maintenance_keeps_sessions_and_rollups_past_the_minutes_until_rollup_retention(
    no_partitions, settings
):
    """The job (jobs.py, beat's task and the command alike): the minutes go after
    RETENTION_DAYS; the sessions and hourly rollups built from them after ROLLUP_RETENTION_DAYS."""
    now = datetime.now(UTC).replace(microsecond=0)
    ages = (("V-gone", 12), ("V-past-raw", 9), ("V-kept", 0))
    with no_partitions.begin() as conn:
        for vehicle, days_ago in ages:
            conn.execute(
                text(
                    "INSERT INTO efficiency_hourly VALUES (date_bin('1 hour', :e, "
                    "timestamptz 'epoch'), 'M1', :v, 1, 1, 0, 0, 1, 0, 1, 1)"
                ),
                {"v": vehicle, "e": now - timedelta(days=days_ago)},
            )
        for vehicle, ended in ((v, now - timedelta(days=d)) for v, d in ages):
            conn.execute(
                text(
                    "INSERT INTO charging_sessions (vehicle_id, meter_id, start_at, end_at, "
                    "start_soc_hundredths, end_soc_hundredths, seen_minutes, ac_kwh, dc_kwh, "
                    "suspect_minutes, minutes) VALUES (:v, 'M1', :e - interval '1 hour', :e, "
                    "0, 0, '{}', 0, 0, 0, 0)"
                ),
                {"v": vehicle, "e": ended},
            )
    kept = settings.replace(retention_days=7, rollup_retention_days=10)
    result = jobs.maintain_partitions(no_partitions, kept)
    assert result.oldest_kept == database_today(no_partitions) - timedelta(days=7)
    with no_partitions.connect() as conn:
        left = conn.execute(text("SELECT vehicle_id FROM charging_sessions ORDER BY 1"))
        hours = conn.execute(text("SELECT vehicle_id FROM efficiency_hourly ORDER BY 1"))
        assert left.scalars().all() == ["V-kept", "V-past-raw"]
        assert hours.scalars().all() == ["V-kept", "V-past-raw"]


def test_maintenance_seals_the_hours_of_minutes_it_drops_when_the_refresh_has_not(
    no_partitions, settings
):
    """The refresh seals an hour once its window has passed it; one stopped since must not let
    the minutes' partitions go before their hours are summed."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
    with no_partitions.begin() as conn:
        write_batch(conn, fleet_records(start, 3))
        # A window ending 90 minutes in: the minutes after it are recomputed (they arrived),
        # their hours not sealed. Then the refresh stops.
        refresh.refresh(conn, start + timedelta(minutes=90))
    summed = (
        "SELECT date_bin('1 hour', minute, timestamptz 'epoch') AS hour, vehicle_id, sum(ac_kwh), "
        "sum(dc_kwh), sum(readings), sum(minutes), count(*) FROM {} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    with no_partitions.connect() as conn:
        minutes = conn.execute(text(summed.format("vehicle_minute_contributions"))).all()
        assert conn.execute(text("SELECT hours_through FROM efficiency_window")).scalar() == (
            start + timedelta(hours=1)
        )
    assert {row.hour for row in minutes} == {start + timedelta(hours=h) for h in range(3)}

    # The first run moves the day out of the default partition, the second drops it.
    for _ in range(2):
        jobs.maintain_partitions(no_partitions, settings.replace(retention_days=7))
    hours = summed.replace("count(*)", "sum(meter_minutes)").replace("minute,", "hour,")
    with no_partitions.connect() as conn:
        gone = conn.execute(text("SELECT count(*) FROM vehicle_minute_contributions")).scalar()
        assert gone == 0
        assert conn.execute(text(hours.format("efficiency_hourly"))).all() == minutes

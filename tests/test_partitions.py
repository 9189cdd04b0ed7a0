"""Day partitions: made ahead, rows moved out of the default one, expired ones dropped."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from models import partitions
from models.history import write_batch
from tests.factories import meter_rec, vehicle_rec

TODAY = date(2030, 3, 15)


def days(engine, table: str) -> set[date]:
    with engine.connect() as conn:
        return partitions.existing_days(conn, table)


@pytest.fixture
def no_partitions(clean_db):
    """Start from only the default partitions, and leave only those behind."""

    def drop_all() -> None:
        for table in partitions.TIME_COLUMN:
            for day in days(clean_db, table):
                with clean_db.begin() as conn:
                    conn.execute(text(f"DROP TABLE {partitions.partition_name(table, day)}"))

    drop_all()
    yield clean_db
    drop_all()


def test_partitions_are_made_for_yesterday_today_and_the_days_ahead(no_partitions):
    result = partitions.maintain(no_partitions, TODAY, days_ahead=2, retention_days=30)
    expected = {date(2030, 3, d) for d in (14, 15, 16, 17)}
    for table in partitions.TIME_COLUMN:
        assert days(no_partitions, table) == expected
    assert len(result.created) == 12
    again = partitions.maintain(no_partitions, TODAY, days_ahead=2, retention_days=30)
    assert again.created == []


def test_rows_in_the_default_partition_move_to_their_days_partition(no_partitions):
    late = datetime(2030, 3, 2, 8, 30, tzinfo=UTC)
    with no_partitions.begin() as conn:
        write_batch(conn, [meter_rec("M1", late), vehicle_rec("V1", "M1", late)])
    result = partitions.maintain(no_partitions, TODAY, days_ahead=0, retention_days=30)
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
    partitions.maintain(no_partitions, TODAY, days_ahead=0, retention_days=60)
    assert date(2030, 2, 1) in days(no_partitions, "meter_readings")
    result = partitions.maintain(no_partitions, TODAY, days_ahead=0, retention_days=30)
    assert result.dropped == ["meter_readings_p20300201"]
    assert date(2030, 2, 1) not in days(no_partitions, "meter_readings")
    with no_partitions.connect() as conn:
        remaining = conn.execute(text("SELECT recorded_at FROM meter_readings")).scalars()
        assert list(remaining) == [recent]

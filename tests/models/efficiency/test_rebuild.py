"""A full rebuild on parallel connections, swapping day partitions, gives exactly what the
in-place recomputation gives, and leaves the table as it found it: same partitions, same indexes,
no scratch table behind."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import text

from efficiency import refresh
from efficiency.contributions import TABLE
from efficiency.reference import efficiency
from models.schema import PARTITIONED
from readings.writer import write_batch
from storage import partitions
from tests.support.efficiency import (
    assert_rollups_sum_the_minutes,
    assert_same,
    assert_serves_reference,
    fleet_records,
    served,
)
from tests.support.sessions import assert_sessions_match, served_sessions

# A window from 09:30 on DAY to 09:30 the day after: both day partitions take part; the fleet
# starts on the day before.
DAY = date(2030, 6, 1)
START = datetime(2030, 5, 31, 7, 0, tzinfo=UTC)
AS_OF = datetime(2030, 6, 2, 9, 30, 20, tzinfo=UTC)


def snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {
            "contributions": conn.execute(
                text(f"SELECT * FROM {TABLE} ORDER BY minute, meter_id")
            ).all(),
            "sums": conn.execute(
                text("SELECT * FROM vehicle_efficiency_24h ORDER BY vehicle_id")
            ).all(),
            "meters": conn.execute(
                text("SELECT * FROM meter_efficiency_24h ORDER BY meter_id")
            ).all(),
            "pairs": conn.execute(
                text("SELECT * FROM meter_vehicle_efficiency_24h ORDER BY meter_id, vehicle_id")
            ).all(),
            "served": served(conn),
            "sessions": served_sessions(conn),
        }


def layout(engine) -> dict:
    """Partitions of the contributions table with their indexes, and any rebuild leftovers."""
    with engine.connect() as conn:
        indexes = conn.execute(
            text(
                "SELECT c.relname, i.indexrelid::regclass::text FROM pg_inherits h "
                "JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_index i ON i.indrelid = c.oid "
                "WHERE h.inhparent = CAST(:t AS regclass) ORDER BY 1, 2"
            ),
            {"t": TABLE},
        ).all()
        leftovers = conn.execute(
            text("SELECT relname FROM pg_class WHERE relname LIKE '%\\_rebuild%'")
        ).scalars()
        return {"indexes": indexes, "leftovers": list(leftovers)}


@pytest.fixture
def two_days(clean_db):
    """Day partitions for the three days the fleet's readings fall on, dropped after."""
    days = [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
    for table in PARTITIONED:
        for day in days:
            with clean_db.begin() as conn:
                partitions.create_partition(conn, table, day)
    yield clean_db
    for table in PARTITIONED:
        for day in days:
            with clean_db.begin() as conn:
                conn.execute(text(f"DROP TABLE IF EXISTS {partitions.partition_name(table, day)}"))


# One builder, the default, and more builders than the window has days (REBUILD_BUILDERS).
@pytest.mark.parametrize("builders", [1, 2, 3])
def test_full_rebuild_on_parallel_connections_equals_the_in_place_one(two_days, builders):
    engine = two_days
    records = fleet_records(START, 27)
    with engine.begin() as conn:
        write_batch(conn, records)
    with engine.begin() as conn:
        in_place = refresh.refresh(conn, AS_OF, full=True)
    expected, before = snapshot(engine), layout(engine)
    assert in_place is not None
    # Minutes before the window (the fleet's first hours) have contributions too: a rebuild must
    # keep them, as they were.
    assert expected["contributions"][0].minute < in_place.window_start
    assert_same(expected["served"], efficiency(records, AS_OF))
    assert len(expected["served"]) >= 10
    with engine.connect() as conn:
        assert_sessions_match(conn, records)
    assert sum(s["minutesCounted"] for s in expected["sessions"]) > 1000

    def day_tables() -> list[int]:
        with engine.connect() as conn:
            return [
                conn.execute(
                    text(f"SELECT '{partitions.partition_name(TABLE, d)}'::regclass::oid")
                ).scalar_one()
                for d in (DAY, DAY + timedelta(days=1))
            ]

    live = day_tables()
    # A rebuild that died before its swap left a scratch table behind.
    with engine.begin() as conn:
        stale = f"{partitions.partition_name(TABLE, DAY)}_rebuild"
        conn.execute(text(f"CREATE TABLE {stale} (LIKE {TABLE})"))
        # As after a change of the rule: the window's sessions hold sums the rebuild must redo.
        wrong = conn.execute(
            text(
                "UPDATE charging_sessions SET ac_kwh = ac_kwh + 1, minutes = minutes + 1 "
                "WHERE end_at >= :start"
            ),
            {"start": in_place.window_start},
        ).rowcount
        # And hourly sums of the rebuilt days that differ from the minutes: changed, missing, and
        # one too many.
        hours = {"start": datetime.combine(DAY, time(), UTC)}
        changed = conn.execute(
            text("UPDATE efficiency_hourly SET dc_kwh = dc_kwh + 1 WHERE hour >= :start"), hours
        ).rowcount
        missing = conn.execute(
            text(
                "DELETE FROM efficiency_hourly WHERE hour >= :start AND vehicle_id = "
                "(SELECT min(vehicle_id) FROM efficiency_hourly WHERE hour >= :start)"
            ),
            hours,
        ).rowcount
        conn.execute(
            text(
                "INSERT INTO efficiency_hourly SELECT hour, 'M-none', vehicle_id, ac_kwh, dc_kwh, "
                "soc_hundredths_sum, battery_temp_hundredths_sum, readings, suspect_minutes, "
                "minutes, meter_minutes FROM efficiency_hourly WHERE hour >= :start LIMIT 1"
            ),
            hours,
        )
    assert wrong >= 10
    assert changed >= 10
    assert missing >= 1
    with engine.begin() as conn:
        rebuilt = refresh.refresh(conn, AS_OF, full=True, engine=engine, builders=builders)

    assert rebuilt is not None
    assert (rebuilt.mode, rebuilt.vehicles) == ("rebuild", in_place.vehicles)
    assert snapshot(engine) == expected
    assert layout(engine) == before
    assert before["leftovers"] == []
    # Both days of the window were swapped for tables built beside them, not rewritten in place.
    assert not set(day_tables()) & set(live)
    with engine.connect() as conn:
        assert_rollups_sum_the_minutes(conn)

    # And the refreshes after it move on incrementally from the swapped-in partitions.
    with engine.begin() as conn:
        write_batch(conn, fleet_records(AS_OF.replace(second=0), 1))
        later = refresh.refresh(conn, AS_OF + timedelta(minutes=20))
    assert later is not None
    assert later.mode == "incremental"
    assert snapshot(engine)["sums"] == recomputed(engine, AS_OF + timedelta(minutes=20))
    with engine.connect() as conn:
        assert_rollups_sum_the_minutes(conn)


def recomputed(engine, as_of: datetime) -> list:
    """What an in-place full recomputation at as_of holds (run in a rolled-back transaction)."""
    with engine.connect() as conn, conn.begin() as transaction:
        refresh.refresh(conn, as_of, full=True)
        rows = conn.execute(text("SELECT * FROM vehicle_efficiency_24h ORDER BY vehicle_id")).all()
        transaction.rollback()
    return rows


def test_without_day_partitions_the_rebuild_recomputes_in_place(clean_db):
    # 2026-02: the test database holds no partitions for it, so the readings sit in the default.
    start = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
    records = fleet_records(start, 26)
    with clean_db.begin() as conn:
        write_batch(conn, records)
    as_of = start + timedelta(hours=26)
    with clean_db.begin() as conn:
        result = refresh.refresh(conn, as_of, full=True, engine=clean_db)
    assert result is not None
    assert result.mode == "rebuild"
    with clean_db.connect() as conn:
        assert_serves_reference(conn, records, as_of)
    assert layout(clean_db)["leftovers"] == []

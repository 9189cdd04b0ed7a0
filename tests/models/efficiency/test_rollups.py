"""Hourly rollups outlive the minutes: once the minutes of past days are gone (RETENTION_DAYS),
a window on whole hours and the daily figures answer exactly what they answered from the
minutes; a window off the hour there is refused, saying why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from efficiency import fleet, refresh
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.efficiency import assert_rollups_sum_the_minutes, fleet_records
from web import create_app

START = datetime(2030, 6, 1, 6, 0, tzinfo=UTC)
AS_OF = START + timedelta(hours=30, minutes=7, seconds=20)
# The minutes before this are dropped, as retention drops their day partitions.
GONE_BEFORE = datetime(2030, 6, 2, tzinfo=UTC)
ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}


def answers(conn, subject, device_id: str) -> dict:
    whole_hours = [
        (START, START + timedelta(hours=5)),
        (START + timedelta(hours=2), GONE_BEFORE + timedelta(hours=3)),
        (START, AS_OF + timedelta(hours=1)),  # to a moment past the refresh: cut at it
    ]
    return {
        "windows": [fleet.read_window(conn, device_id, lo, hi, subject) for lo, hi in whole_hours],
        "daily": [dict(row) for row in fleet.daily(conn, device_id, 5, subject)],
    }


@pytest.fixture
def refreshed(db):
    write_batch(db, fleet_records(START, 30))
    for hours in (8, 20, 30):  # refreshed as the fleet came
        refresh.refresh(db, START + timedelta(hours=hours, minutes=7, seconds=20))
    assert_rollups_sum_the_minutes(db)
    return db


@pytest.mark.parametrize("subject", [fleet.VEHICLES, fleet.METERS])
def test_whole_hours_and_days_answer_the_same_after_their_minutes_are_gone(refreshed, subject):
    # The device that charged most, on both days.
    device = refreshed.execute(
        text(
            f"SELECT {subject.id_column} FROM efficiency_hourly GROUP BY 1 "
            "HAVING min(hour) < :t AND max(hour) >= :t ORDER BY sum(meter_minutes) DESC, 1 LIMIT 1"
        ),
        {"t": GONE_BEFORE},
    ).scalar_one()
    before = answers(refreshed, subject, device)
    assert before["windows"][0] is not None
    assert before["windows"][0]["readings"] > 0
    assert len(before["daily"]) == 2
    gone = refreshed.execute(
        text("DELETE FROM vehicle_minute_contributions WHERE minute < :t"), {"t": GONE_BEFORE}
    ).rowcount
    assert gone > 1000
    assert answers(refreshed, subject, device) == before


def test_a_window_off_the_hour_past_the_minutes_is_refused_saying_why(settings):
    client = create_app(settings.replace(retention_days=30)).test_client()
    long_ago = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=90)
    off = long_ago + timedelta(minutes=30)
    for start, end in ((off, long_ago + timedelta(hours=5)), (long_ago, off)):
        query = {"from": start.isoformat(), "to": end.isoformat()}
        reply = client.get("/v1/analytics/performance/V1", query_string=query, headers=ANALYST)
        said = reply.get_json()
        assert reply.status_code == 400
        assert said["error"] == "window_not_whole_hours"
        assert "RETENTION_DAYS (30 days" in said["message"]
    # On whole hours it is asked of the rollups: nothing there, so the seed's 404.
    query = {"from": long_ago.isoformat(), "to": (long_ago + timedelta(hours=5)).isoformat()}
    reply = client.get("/v1/analytics/performance/V1", query_string=query, headers=ANALYST)
    assert reply.status_code == 404
    # Off the hour within the minutes kept is answered from them as always.
    recent = datetime.now(UTC) - timedelta(hours=3, minutes=17)
    query = {"from": recent.isoformat()}
    reply = client.get("/v1/analytics/performance/V1", query_string=query, headers=ANALYST)
    assert reply.status_code == 404


def test_sealed_hours_migration_keeps_the_rollups_equal_to_the_minutes_both_ways(database_url):
    """0018: before it the refresh kept every hour, the one in progress too; after it only the
    hours its window has passed. Both directions leave the rollups summing the minutes."""
    from alembic import command

    from tests.support.migrated import database_at

    everything = (
        "SELECT date_bin('1 hour', minute, timestamptz 'epoch'), meter_id, vehicle_id, "
        "sum(ac_kwh), sum(dc_kwh), sum(readings), sum(minutes), count(*) "
        "FROM vehicle_minute_contributions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    kept = (
        "SELECT hour, meter_id, vehicle_id, ac_kwh, dc_kwh, readings, minutes, meter_minutes "
        "FROM efficiency_hourly ORDER BY 1, 2, 3"
    )
    with database_at(database_url, "head") as (engine, config):
        with engine.begin() as conn:
            write_batch(conn, fleet_records(START, 3))
            refresh.refresh(conn, START + timedelta(hours=2, minutes=30))
            # The hour in progress is left to its minutes.
            assert conn.execute(text(kept)).all() != conn.execute(text(everything)).all()
        command.downgrade(config, "0017")
        with engine.connect() as conn:
            # As 0017's refresh kept them: every hour with a minute.
            assert conn.execute(text(kept)).all() == conn.execute(text(everything)).all()
        command.upgrade(config, "head")
        with engine.begin() as conn:
            through = conn.execute(text("SELECT hours_through FROM efficiency_window")).scalar()
            assert through == START + timedelta(hours=2)
            assert_rollups_sum_the_minutes(conn)
            refresh.refresh(conn, START + timedelta(hours=3, minutes=10))
            assert_rollups_sum_the_minutes(conn)
            assert conn.execute(text(kept)).all() == conn.execute(text(everything)).all()

"""Upgrading a database that holds figures across migration 0009 (contributions by meter): the
old contributions are queued for recompute, and the first refresh after it serves what the rule
says, for vehicles and meters alike; the migration also goes down and up again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from efficiency import refresh
from readings.registers import RegisterRule
from readings.writer import write_batch
from tests.support.efficiency import assert_serves_reference, fleet_records
from tests.support.migrated import database_at

START = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
AS_OF = START + timedelta(hours=5)


@pytest.fixture
def at_0008(database_url: str) -> Iterator[tuple[Engine, Config]]:
    with database_at(database_url, "0008") as migrated:
        yield migrated


def test_the_first_refresh_after_the_upgrade_serves_the_rule(at_0008):
    engine, config = at_0008
    records = fleet_records(START, 5)
    with engine.begin() as conn:
        # 0008 knew no packed days: none of these is taken for late (the upgrade packs them).
        write_batch(conn, records, RegisterRule(pack_after_days=100_000))
        # What 0008's refresh left: contributions per (minute, vehicle), and their sums.
        conn.execute(text("DELETE FROM dirty_minutes"))
        conn.execute(
            text(
                "INSERT INTO vehicle_minute_contributions "
                "SELECT minute, 'V1', 1, 1, 100, 100, 1 FROM generate_series("
                "CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '299 minutes', "
                "interval '1 minute') minute"
            ),
            {"s": START},
        )
        conn.execute(
            text("INSERT INTO vehicle_performance_24h VALUES ('V1', 300, 300, 1, 1, 1, 1)")
        )
        conn.execute(text("INSERT INTO performance_window VALUES (1, now(), now(), now())"))

    command.upgrade(config, "head")
    with engine.connect() as conn:
        queued = conn.execute(text("SELECT count(DISTINCT minute) FROM dirty_minutes")).scalar()
        left = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM vehicle_minute_contributions) + "
                "(SELECT count(*) FROM vehicle_efficiency_24h) + "
                "(SELECT count(*) FROM efficiency_window)"
            )
        ).scalar()
    assert (queued, left) == (300, 0)

    with engine.begin() as conn:
        refresh.refresh(conn, AS_OF)
    with engine.connect() as conn:
        assert_serves_reference(conn, records, AS_OF)

    command.downgrade(config, "0008")
    command.upgrade(config, "head")
    with engine.begin() as conn:
        refresh.refresh(conn, AS_OF)
    with engine.connect() as conn:
        assert_serves_reference(conn, records, AS_OF)

"""Upgrading across migration 0010 (sessions keep their sums): every session already there is
summed from the contributions, as the refresh would have kept it; the migration also goes down
and up again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text

from efficiency import refresh
from readings.writer import write_batch
from tests.support.efficiency import fleet_records
from tests.support.migrated import database_at
from tests.support.sessions import assert_sessions_match, served_sessions

START = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
AS_OF = START + timedelta(hours=5)


def test_sessions_made_before_the_upgrade_are_summed_by_it(database_url):
    with database_at(database_url, "head") as (engine, config):
        records = fleet_records(START, 5)
        with engine.begin() as conn:
            write_batch(conn, records)
            refresh.refresh(conn, AS_OF)
        with engine.connect() as conn:
            kept = served_sessions(conn)
        assert sum(s["minutesCounted"] for s in kept) > 100

        # Down to 0009: the sessions stay, their sums go.
        command.downgrade(config, "0009")
        with engine.connect() as conn:
            columns = conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'charging_sessions'"
                )
            ).scalars()
            assert "ac_kwh" not in set(columns)
            assert conn.execute(text("SELECT count(*) FROM charging_sessions")).scalar() == len(
                kept
            )

        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert served_sessions(conn) == kept
            assert_sessions_match(conn, records)

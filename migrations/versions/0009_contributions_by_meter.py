"""Per-minute contributions by (meter, minute), with suspect minutes; a meter's running sums;
charging sessions; failing chargers.

The contributions are derived from history, so this empties them (and the running sums built on
them) and queues every minute of vehicle history for the next refresh to recompute under the new
layout, and to build the sessions from: until that refresh commits, the analytics answer 404
not_refreshed. The README ("Configure
it", after the settings) says what that costs on a large fleet.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import INT4MULTIRANGE

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTRIBUTIONS = "vehicle_minute_contributions"


def _requeue_and_empty() -> None:
    op.execute(
        "INSERT INTO dirty_minutes (minute) SELECT DISTINCT "
        "date_bin('1 minute', recorded_at, timestamptz 'epoch') FROM vehicle_readings"
    )
    op.execute(f"TRUNCATE {CONTRIBUTIONS}, vehicle_performance_24h")
    op.execute("DELETE FROM performance_window")


def _sums(name: str, *keys: sa.Column, extra: tuple[sa.Column, ...] = ()) -> None:
    op.create_table(
        name,
        *keys,
        sa.Column("ac_kwh", sa.Numeric, nullable=False),
        sa.Column("dc_kwh", sa.Numeric, nullable=False),
        sa.Column("soc_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("battery_temp_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.BigInteger, nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("suspect_minutes", sa.BigInteger, nullable=False),
        *extra,
    )


def upgrade() -> None:
    _requeue_and_empty()
    op.add_column(CONTRIBUTIONS, sa.Column("meter_id", sa.Text, nullable=False))
    op.add_column(CONTRIBUTIONS, sa.Column("suspect_minutes", sa.SmallInteger, nullable=False))
    op.add_column(CONTRIBUTIONS, sa.Column("minutes", sa.SmallInteger, nullable=False))
    op.drop_constraint(f"{CONTRIBUTIONS}_pkey", CONTRIBUTIONS)
    op.create_primary_key(f"{CONTRIBUTIONS}_pkey", CONTRIBUTIONS, ["minute", "meter_id"])
    op.create_index(f"{CONTRIBUTIONS}_meter", CONTRIBUTIONS, ["meter_id", "minute"])
    op.add_column(
        "vehicle_performance_24h",
        sa.Column("suspect_minutes", sa.BigInteger, nullable=False),
    )
    _sums(
        "meter_vehicle_performance_24h",
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("vehicle_id", sa.Text, primary_key=True),
    )
    _sums(
        "meter_performance_24h",
        sa.Column("meter_id", sa.Text, primary_key=True),
        extra=(sa.Column("vehicles", sa.Integer, nullable=False),),
    )
    op.execute(
        "CREATE INDEX meter_performance_24h_efficiency ON meter_performance_24h "
        "((coalesce(dc_kwh / nullif(ac_kwh, 0), 'Infinity'::numeric)), meter_id)"
    )
    op.create_table(
        "charging_sessions",
        sa.Column("vehicle_id", sa.Text, nullable=False),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_soc_hundredths", sa.SmallInteger, nullable=False),
        sa.Column("end_soc_hundredths", sa.SmallInteger, nullable=False),
        sa.Column("seen_minutes", INT4MULTIRANGE, nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id", "meter_id", "start_at"),
    )
    op.create_index("charging_sessions_vehicle", "charging_sessions", ["vehicle_id", "start_at"])
    op.create_index("charging_sessions_meter", "charging_sessions", ["meter_id", "start_at"])
    op.create_index(
        "charging_transactions_by_start", "charging_transactions", ["charge_point_id", "started_at"]
    )
    op.create_table(
        "failing_chargers",
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("efficiencies", sa.ARRAY(sa.Numeric), nullable=False),
        sa.Column("last_session_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    _requeue_and_empty()
    op.drop_table("failing_chargers")
    op.drop_index("charging_transactions_by_start", "charging_transactions")
    op.drop_table("charging_sessions")
    op.drop_table("meter_performance_24h")
    op.drop_table("meter_vehicle_performance_24h")
    op.drop_column("vehicle_performance_24h", "suspect_minutes")
    op.drop_index(f"{CONTRIBUTIONS}_meter", CONTRIBUTIONS)
    op.drop_constraint(f"{CONTRIBUTIONS}_pkey", CONTRIBUTIONS)
    op.create_primary_key(f"{CONTRIBUTIONS}_pkey", CONTRIBUTIONS, ["minute", "vehicle_id"])
    for column in ("minutes", "suspect_minutes", "meter_id"):
        op.drop_column(CONTRIBUTIONS, column)

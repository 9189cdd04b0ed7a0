"""History, current state and the 24 h performance tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
ENERGY = sa.Numeric(10, 6)


def upgrade() -> None:
    op.create_table(
        "meter_readings",
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("voltage_hundredths", sa.Integer, nullable=False),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("kwh_consumed_ac", ENERGY, nullable=False),
        sa.PrimaryKeyConstraint("recorded_at", "meter_id"),
        postgresql_partition_by="RANGE (recorded_at)",
    )
    op.create_table(
        "vehicle_readings",
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("soc_hundredths", sa.SmallInteger, nullable=False),
        sa.Column("battery_temp_hundredths", sa.SmallInteger, nullable=False),
        sa.Column("vehicle_id", sa.Text, nullable=False),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("kwh_delivered_dc", ENERGY, nullable=False),
        sa.PrimaryKeyConstraint("recorded_at", "vehicle_id"),
        postgresql_partition_by="RANGE (recorded_at)",
    )
    op.create_table(
        "meter_current_state",
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("kwh_consumed_ac", ENERGY, nullable=False),
        sa.Column("voltage_hundredths", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "vehicle_current_state",
        sa.Column("vehicle_id", sa.Text, primary_key=True),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("kwh_delivered_dc", ENERGY, nullable=False),
        sa.Column("soc_hundredths", sa.SmallInteger, nullable=False),
        sa.Column("battery_temp_hundredths", sa.SmallInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "dirty_minutes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("minute", TS, nullable=False),
    )
    op.create_table(
        "vehicle_minute_contributions",
        sa.Column("minute", TS, nullable=False),
        sa.Column("vehicle_id", sa.Text, nullable=False),
        sa.Column("ac_kwh", sa.Numeric, nullable=False),
        sa.Column("dc_kwh", sa.Numeric, nullable=False),
        sa.Column("soc_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("battery_temp_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("minute", "vehicle_id"),
        postgresql_partition_by="RANGE (minute)",
    )
    op.create_table(
        "vehicle_performance_24h",
        sa.Column("vehicle_id", sa.Text, primary_key=True),
        sa.Column("ac_kwh", sa.Numeric, nullable=False),
        sa.Column("dc_kwh", sa.Numeric, nullable=False),
        sa.Column("soc_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("battery_temp_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.BigInteger, nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
    )
    op.create_table(
        "performance_window",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("refreshed_at", TS, nullable=False),
        sa.CheckConstraint("id = 1", name="performance_window_single_row"),
    )
    # A reading for a day that has no partition yet lands here instead of failing; the
    # partition job moves such rows into their day's partition.
    for table in ("meter_readings", "vehicle_readings", "vehicle_minute_contributions"):
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")


def downgrade() -> None:
    for table in (
        "performance_window",
        "vehicle_performance_24h",
        "vehicle_minute_contributions",
        "dirty_minutes",
        "vehicle_current_state",
        "meter_current_state",
        "vehicle_readings",
        "meter_readings",
    ):
        op.drop_table(table)

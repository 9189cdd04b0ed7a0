"""Hourly rollups of the per-minute contributions, per (meter, vehicle): the figures of whole
hours outlive the minutes' day partitions. Filled from the contributions kept now.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "efficiency_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("vehicle_id", sa.Text, nullable=False),
        sa.Column("ac_kwh", sa.Numeric, nullable=False),
        sa.Column("dc_kwh", sa.Numeric, nullable=False),
        sa.Column("soc_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("battery_temp_hundredths_sum", sa.BigInteger, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sa.Column("suspect_minutes", sa.Integer, nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("meter_minutes", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("meter_id", "hour", "vehicle_id"),
    )
    op.create_index("efficiency_hourly_vehicle", "efficiency_hourly", ["vehicle_id", "hour"])
    op.execute(
        """
        INSERT INTO efficiency_hourly
        SELECT date_bin('1 hour', minute, timestamptz 'epoch'), meter_id, vehicle_id,
               sum(ac_kwh), sum(dc_kwh), sum(soc_hundredths_sum),
               sum(battery_temp_hundredths_sum), sum(readings), sum(suspect_minutes),
               sum(minutes), count(*)
        FROM vehicle_minute_contributions GROUP BY 1, 2, 3
        """
    )


def downgrade() -> None:
    op.drop_table("efficiency_hourly")

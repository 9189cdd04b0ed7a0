"""What a charger's meter values say besides energy: power, current, voltage, frequency, SoC and
temperature per connector, phase and location, in day partitions as history is.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charger_samples",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("measurand", sa.Text, nullable=False),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("value", sa.Numeric, nullable=False),
        sa.PrimaryKeyConstraint("at", "meter_id", "measurand", "phase", "location"),
        postgresql_partition_by="RANGE (at)",
    )
    # Rows of a day whose partition is not made yet wait here (storage/partitions.py).
    op.execute("CREATE TABLE charger_samples_default PARTITION OF charger_samples DEFAULT")


def downgrade() -> None:
    op.drop_table("charger_samples")

"""The meters each vehicle may name: a vehicle's claim to a meter in a minute is bounded by them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vehicle_meter_bindings",
        sa.Column("vehicle_id", sa.Text, nullable=False),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("vehicle_id", "meter_id"),
    )


def downgrade() -> None:
    op.drop_table("vehicle_meter_bindings")

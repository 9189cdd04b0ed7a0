"""Index the per-minute contributions by vehicle, for a vehicle's hourly breakdown.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "vehicle_minute_contributions_vehicle",
        "vehicle_minute_contributions",
        ["vehicle_id", "minute"],
    )


def downgrade() -> None:
    op.drop_index("vehicle_minute_contributions_vehicle", "vehicle_minute_contributions")

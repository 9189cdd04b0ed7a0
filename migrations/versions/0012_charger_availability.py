"""What chargers say about themselves: their StatusNotifications, and when they could be heard
(a WebSocket's life, a forwarded charger's run of messages), for their availability.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "charger_statuses",
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error_code", sa.Text),
        sa.Column("vendor_error_code", sa.Text),
        sa.Column("info", sa.Text),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("meter_id", "at", "connector_id", "status"),
    )
    op.create_table(
        "charger_connections",
        sa.Column("charge_point_id", sa.Text, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("forwarded", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("charge_point_id", "opened_at"),
    )


def downgrade() -> None:
    op.drop_table("charger_connections")
    op.drop_table("charger_statuses")

"""OCPP: chargers' transactions, and chargers as holders of device tokens.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charging_transactions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("charge_point_id", sa.Text, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("ref", sa.Text),
        sa.Column("protocol", sa.Text, nullable=False),
        sa.Column("id_tag", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("meter_start_kwh", sa.Numeric(18, 6)),
        sa.Column("meter_stop_kwh", sa.Numeric(18, 6)),
        sa.Column("stop_reason", sa.Text),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index(
        "charging_transactions_ref",
        "charging_transactions",
        ["charge_point_id", "ref"],
        unique=True,
        postgresql_where=sa.text("ref IS NOT NULL"),
    )
    op.create_index(
        "charging_transactions_start",
        "charging_transactions",
        ["charge_point_id", "connector_id", "started_at"],
        unique=True,
        postgresql_where=sa.text("ref IS NULL"),
    )
    _kinds("'meter', 'vehicle', 'charger'")


def downgrade() -> None:
    op.execute("DELETE FROM device_credentials WHERE device_kind = 'charger'")
    _kinds("'meter', 'vehicle'")
    op.drop_table("charging_transactions")


def _kinds(listed: str) -> None:
    op.drop_constraint("device_kind_known", "device_credentials", type_="check")
    op.create_check_constraint(
        "device_kind_known", "device_credentials", f"device_kind IN ({listed})"
    )

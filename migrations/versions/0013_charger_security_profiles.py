"""A charger's OCPP security profile (1: Basic over ws://; 2: Basic over wss://; 3: wss:// with a
client certificate), kept with its credentials.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charger_security_profiles",
        sa.Column("charge_point_id", sa.Text, primary_key=True),
        sa.Column("profile", sa.SmallInteger, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("profile BETWEEN 1 AND 3", name="security_profile_known"),
    )


def downgrade() -> None:
    op.drop_table("charger_security_profiles")

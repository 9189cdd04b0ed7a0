"""Per-device credentials: a token bound to one meter or vehicle, stored as its SHA-256.

Tokens are 256 random bits, so a fast hash is enough (nothing to guess a dictionary from) and a
lookup is one index probe. One live token per device; revoked ones stay, for the record.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_credentials",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("device_kind", sa.Text, nullable=False),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("token_sha256", sa.LargeBinary, nullable=False, unique=True),
        # The token's first characters, to tell tokens apart in a listing.
        sa.Column("token_prefix", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("device_kind IN ('meter', 'vehicle')", name="device_kind_known"),
    )
    op.create_index(
        "device_credentials_one_live",
        "device_credentials",
        ["device_kind", "device_id"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("device_credentials")

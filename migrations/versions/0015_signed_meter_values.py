"""Chargers' signed meter values, kept byte for byte with their context and transaction, and the
meters' public keys they are verified against.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charger_signed_values",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("measurand", sa.Text, nullable=False),
        sa.Column("transaction_id", sa.Text),
        sa.Column("signed_data", sa.Text, nullable=False),
        sa.Column("signing_method", sa.Text),
        sa.Column("encoding_method", sa.Text),
        sa.Column("public_key", sa.Text),
        sa.Column("unsigned_kwh", sa.Numeric),
        sa.Column("digest", sa.LargeBinary, nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index(
        "charger_signed_values_once",
        "charger_signed_values",
        ["meter_id", "at", "context", "digest"],
        unique=True,
    )
    op.create_index(
        "charger_signed_values_by_transaction",
        "charger_signed_values",
        ["meter_id", "transaction_id"],
    )
    op.create_table(
        "meter_public_keys",
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("meter_public_keys")
    op.drop_table("charger_signed_values")

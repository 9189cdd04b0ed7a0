"""Cumulative registers: a reading may carry its device's register instead of its interval's
energy (docs/DESIGN.md, "Registers"). The interval becomes nullable (unknown until derived, or
for good), as does a meter's voltage (many register meters send none), and each kind's register
readings get an index by device for finding a reading's neighbours.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (kind, device column, register column, interval column, the columns it may leave out)
KINDS = (
    ("meter", "meter_id", "kwh_register_ac", "kwh_consumed_ac", ("voltage_hundredths",)),
    ("vehicle", "vehicle_id", "kwh_register_dc", "kwh_delivered_dc", ()),
)


def upgrade() -> None:
    for kind, device, register, interval, optional in KINDS:
        for table in (f"{kind}_readings", f"{kind}_current_state"):
            op.add_column(table, sa.Column(register, sa.Numeric(18, 6), nullable=True))
            for column in (interval, *optional):
                op.alter_column(table, column, nullable=True)
        # The register readings before the newest, newest first (readings/registers.py).
        for column, type_ in (
            ("recent_at", sa.ARRAY(sa.DateTime(timezone=True))),
            ("recent_register", sa.ARRAY(sa.Numeric(18, 6))),
        ):
            op.add_column(f"{kind}_current_state", sa.Column(column, type_, nullable=True))
        op.create_index(
            f"{kind}_readings_register",
            f"{kind}_readings",
            [device, "recorded_at"],
            postgresql_where=sa.text(f"{register} IS NOT NULL"),
            postgresql_include=[register, interval],
        )


def downgrade() -> None:
    for kind, _device, register, interval, optional in KINDS:
        op.drop_index(f"{kind}_readings_register", table_name=f"{kind}_readings")
        for column in ("recent_at", "recent_register"):
            op.drop_column(f"{kind}_current_state", column)
        for table in (f"{kind}_readings", f"{kind}_current_state"):
            # Register readings have no place in the older schema.
            op.execute(f"DELETE FROM {table} WHERE {register} IS NOT NULL")
            op.drop_column(table, register)
            for column in (interval, *optional):
                op.alter_column(table, column, nullable=False)

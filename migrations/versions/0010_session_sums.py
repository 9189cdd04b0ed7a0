"""A charging session keeps what it charged: its vehicle's contributions on its meter within it,
summed (AC, DC, suspect minutes, kept minutes), moved by the refresh as the contributions move,
instead of summed on every read. Existing sessions are summed here, once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMS = {
    "ac_kwh": sa.Numeric,
    "dc_kwh": sa.Numeric,
    "suspect_minutes": sa.Integer,
    "minutes": sa.Integer,
}


def upgrade() -> None:
    for name, kind in SUMS.items():
        op.add_column(
            "charging_sessions", sa.Column(name, kind, nullable=False, server_default="0")
        )
    op.execute(
        """
        UPDATE charging_sessions s
        SET ac_kwh = f.ac, dc_kwh = f.dc, suspect_minutes = f.suspect, minutes = f.kept
        FROM charging_sessions k
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(c.ac_kwh), 0) AS ac, coalesce(sum(c.dc_kwh), 0) AS dc,
                   coalesce(sum(c.suspect_minutes), 0) AS suspect, count(*) AS kept
            FROM vehicle_minute_contributions c
            WHERE c.vehicle_id = k.vehicle_id AND c.meter_id = k.meter_id
              AND c.minute >= date_bin('1 minute', k.start_at, timestamptz 'epoch')
              AND c.minute <= k.end_at
        ) f
        WHERE (s.vehicle_id, s.meter_id, s.start_at) = (k.vehicle_id, k.meter_id, k.start_at)
        """
    )
    # Every writer names the sums; a default would hide one that forgot them.
    for name in SUMS:
        op.alter_column("charging_sessions", name, server_default=None)


def downgrade() -> None:
    for name in SUMS:
        op.drop_column("charging_sessions", name)

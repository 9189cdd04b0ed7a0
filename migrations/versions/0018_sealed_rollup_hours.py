"""The hourly rollups hold sealed hours only: efficiency_window.hours_through says where they end.
Until now the refresh kept every hour's row exact, so every hour before the window's is sealed.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("efficiency_window", sa.Column("hours_through", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE efficiency_window "
        "SET hours_through = date_bin('1 hour', window_end, timestamptz 'epoch')"
    )


def downgrade() -> None:
    # The hours after it are summed again from their minutes, as the refresh kept them before.
    op.execute(
        """
        DELETE FROM efficiency_hourly
        WHERE hour >= (SELECT hours_through FROM efficiency_window WHERE id = 1)
        """
    )
    op.execute(
        """
        INSERT INTO efficiency_hourly
        SELECT date_bin('1 hour', minute, timestamptz 'epoch'), meter_id, vehicle_id,
               sum(ac_kwh), sum(dc_kwh), sum(soc_hundredths_sum),
               sum(battery_temp_hundredths_sum), sum(readings), sum(suspect_minutes),
               sum(minutes), count(*)
        FROM vehicle_minute_contributions
        WHERE minute >= (SELECT hours_through FROM efficiency_window WHERE id = 1)
        GROUP BY 1, 2, 3
        """
    )
    op.drop_column("efficiency_window", "hours_through")

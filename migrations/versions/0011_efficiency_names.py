"""One name for the efficiency rule's tables: the 24 h sums and their window are "efficiency"
tables, as their modules (efficiency/) and cache are. Renames only: no row moves, and the
metrics, routes and commands keep their names.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {
    "vehicle_performance_24h": "vehicle_efficiency_24h",
    "meter_performance_24h": "meter_efficiency_24h",
    "meter_vehicle_performance_24h": "meter_vehicle_efficiency_24h",
    "performance_window": "efficiency_window",
}
INDEXES = {"meter_performance_24h_efficiency": "meter_efficiency_24h_by_efficiency"}
# The window's one-row CHECK, by the window's name after the tables are renamed.
CHECKS = {"performance_window_single_row": "efficiency_window_single_row"}


def _rename(tables: dict[str, str], indexes: dict[str, str], checks: dict[str, str]) -> None:
    for old, new in tables.items():
        op.execute(f"ALTER TABLE {old} RENAME TO {new}")
        op.execute(f"ALTER INDEX {old}_pkey RENAME TO {new}_pkey")
    for old, new in indexes.items():
        op.execute(f"ALTER INDEX {old} RENAME TO {new}")
    window = tables.get("performance_window") or tables["efficiency_window"]
    for old, new in checks.items():
        op.execute(f"ALTER TABLE {window} RENAME CONSTRAINT {old} TO {new}")


def _back(names: dict[str, str]) -> dict[str, str]:
    return {new: old for old, new in names.items()}


def upgrade() -> None:
    _rename(TABLES, INDEXES, CHECKS)


def downgrade() -> None:
    _rename(_back(TABLES), _back(INDEXES), _back(CHECKS))

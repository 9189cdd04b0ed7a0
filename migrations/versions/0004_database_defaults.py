"""The database's own defaults: time zone UTC, JIT off.

Every connection asks for both at start (storage/db.py), but a pooler in transaction mode
(PgBouncer) must drop such startup options: sessions it opens then get these, so minutes and
days are still cut in UTC.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SET = """
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET timezone TO ''UTC''', current_database());
    EXECUTE format('ALTER DATABASE %I SET jit TO off', current_database());
END $$
"""
_RESET = """
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I RESET timezone', current_database());
    EXECUTE format('ALTER DATABASE %I RESET jit', current_database());
END $$
"""


def upgrade() -> None:
    op.execute(_SET)


def downgrade() -> None:
    op.execute(_RESET)

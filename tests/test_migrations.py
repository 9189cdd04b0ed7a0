"""Schema changes only through Alembic: one head, and the migrated schema is what the code uses."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from models.schema import metadata
from tests.conftest import ROOT


def test_there_is_a_single_head():
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    assert len(script.get_heads()) == 1


def test_migrated_database_has_every_table_and_column_the_code_uses(engine):
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name

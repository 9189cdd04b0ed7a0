"""Schema changes only through Alembic: one head, and the migrated database is exactly what
models/schema.py declares (so autogenerate proposes nothing, and queries built from `metadata`
name what exists)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from models.schema import declared_here, metadata
from tests.support.constants import ROOT


def test_there_is_a_single_head():
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    assert len(script.get_heads()) == 1


def test_the_migrated_database_is_what_the_schema_declares(engine):
    options = {
        "include_object": declared_here,
        "compare_type": True,
        "compare_server_default": True,
    }
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts=options), metadata)
    assert differences == []

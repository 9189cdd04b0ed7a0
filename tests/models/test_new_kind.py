"""A new kind of reading touches the registry and its migration, nothing else of the service
(docs/ARCHITECTURE.md, "A new kind of reading"): in a copy of the service's code (what the image
copies), a thermometer kind is declared in models/kinds.py and its tables migrated, and a reading
of it goes through ingest's validation, the stream, the writer and the history read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from settings import sqlalchemy_url
from tests.support.compose import copied
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN, ROOT
from tests.support.migrated import new_database

THERMO = """
THERMO = Kind(
    name="thermo",
    code="t",
    quantities=(Quantity("celsius", "celsius", SmallInteger(), lambda s: Bounds(-50, 150)),),
)

KINDS = (METER, VEHICLE, THERMO)
"""

MIGRATION = '''"""A thermometer's history (unpacked and packed) and current state, and its devices'
credentials.

Revision ID: thermo
Revises: {head}
"""

from alembic import op

from models.kinds import DEVICE_KINDS
from models.schema import CURRENT, HISTORY, PACKED

revision = "thermo"
down_revision = "{head}"


def upgrade() -> None:
    HISTORY["thermo"].create(op.get_bind())
    op.execute("CREATE TABLE thermo_readings_default PARTITION OF thermo_readings DEFAULT")
    CURRENT["thermo"].create(op.get_bind())
    PACKED["thermo"].create(op.get_bind())
    op.drop_constraint("device_kind_known", "device_credentials", type_="check")
    kinds = ", ".join(repr(kind) for kind in DEVICE_KINDS)
    check = f"device_kind IN ({{kinds}})"
    op.create_check_constraint("device_kind_known", "device_credentials", check)
'''

# Run in the copy: migrate, check the migrated database is the schema, ingest a reading, drain
# it through the writer, and read it back as an analyst would.
DRIVER = """
import json, sys
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from buffer.stream import IngestStream
from models.schema import declared_here, metadata
from readings.writer import write_batch
from settings import Settings
from storage.db import make_engine
from storage.redis_client import client_for
from web import create_app

settings = Settings.from_env()
config = Config("alembic.ini")
config.set_main_option("sqlalchemy.url", sys.argv[1].replace("%", "%%"))
command.upgrade(config, "head")
engine = make_engine(settings)
with engine.connect() as conn:
    context = MigrationContext.configure(conn, opts={"include_object": declared_here})
    differences = [str(d) for d in compare_metadata(context, metadata)]

client = create_app(settings).test_client()
posted = client.post(
    "/v1/ingest",
    json={"type": "thermo", "thermoId": "T1", "celsius": 21.37, "timestamp": sys.argv[2]},
    headers={"Authorization": "Bearer " + settings.device_tokens[0]},
)
stream = IngestStream(client_for(settings), settings.redis_key_prefix)
stream.ensure_group()
entries = stream.read_new("thermo-test", 100)
with engine.begin() as conn:
    write_batch(conn, [record for entry in entries for record in entry.records])
stream.ack(entries)
analyst = {"Authorization": "Bearer " + settings.analyst_tokens[0]}
history = client.get(
    "/v1/thermos/T1/readings", query_string={"from": sys.argv[3]}, headers=analyst
)
newest = client.get("/v1/thermos/T1", headers=analyst)
print(json.dumps({
    "differences": differences,
    "posted": [posted.status_code, posted.get_json()],
    "history": [history.status_code, history.get_json()],
    "newest": [newest.status_code, newest.get_json()],
}))
"""


def _service_copy(directory: Path) -> Path:
    directory.mkdir()
    for source in copied():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, directory / source, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.is_file():
            shutil.copy(path, directory / source)
    return directory


def _declare_thermometer(code: Path) -> None:
    registry = code / "models" / "kinds.py"
    declared = registry.read_text()
    assert declared.count("\nKINDS = (METER, VEHICLE)\n") == 1
    registry.write_text(declared.replace("\nKINDS = (METER, VEHICLE)\n", THERMO))
    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
    (code / "migrations" / "versions" / "9999_thermo.py").write_text(MIGRATION.format(head=head))


def test_a_new_kind_needs_only_the_registry_and_its_migration(tmp_path, server_env, settings):
    code = _service_copy(tmp_path / "service")
    _declare_thermometer(code)
    now = datetime.now(UTC).replace(microsecond=0)
    since = f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
    with new_database(sqlalchemy_url(server_env["DATABASE_URL"]), "ev_thermo") as url:
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, url, now.isoformat(), since],
            cwd=code,
            env={
                "PATH": "/usr/bin:/bin",
                "DATABASE_URL": url,
                "REDIS_URL": server_env["REDIS_URL"],
                "REDIS_KEY_PREFIX": f"{settings.redis_key_prefix}-thermo",
                "DEVICE_TOKENS": DEVICE_TOKEN,
                "ANALYST_TOKENS": ANALYST_TOKEN,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["differences"] == []
    assert seen["posted"][0] == 202, seen["posted"]
    assert seen["posted"][1]["accepted"] == 1
    status, page = seen["history"]
    assert status == 200, page
    assert page["thermoId"] == "T1"
    assert page["readings"] == [
        {"timestamp": now.isoformat().replace("+00:00", "Z"), "celsius": 21.37}
    ]
    status, newest = seen["newest"]
    assert status == 200, newest
    assert newest["celsius"] == 21.37

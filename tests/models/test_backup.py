"""A backup is a PostgreSQL dump of the service's database: restored into a fresh database, the
service serves the same figures, history and sessions, and the devices' tokens still work
(docs/OPERATIONS.md, "Backups"). Dumped with pg_dump, restored with psql, both from the
PostgreSQL binaries the tests already carry (pgserver), so the test runs wherever the suite does."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pgserver
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devices import transactions
from efficiency import refresh
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.credentials import issue, post
from tests.support.factories import meter, meter_rec, vehicle_rec
from web import create_app

BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"
T = datetime(2026, 2, 9, 10, 0, 5, tzinfo=UTC)
AS_OF = T + timedelta(hours=2)
ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
READS = (
    "/v1/analytics/performance/V1",
    "/v1/analytics/meters/CP1:1",
    "/v1/analytics/performance?limit=10",
    "/v1/analytics/meters?limit=10",
    "/v1/vehicles/V1/sessions?from=2026-02-09T00:00:00Z&to=2026-02-10T00:00:00Z",
    "/v1/meters/CP1:1/sessions?from=2026-02-09T00:00:00Z&to=2026-02-10T00:00:00Z",
    "/v1/vehicles/V1/readings?from=2026-02-09T09:00:00Z&to=2026-02-09T12:00:00Z",
)


@pytest.fixture
def restored_url(database_url):
    """An empty database beside the test's, dropped afterwards."""
    server = make_url(database_url)
    name = f"ev_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield server.set(database=name)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def answers(app) -> dict[str, bytes]:
    client = app.test_client()
    out = {}
    for path in READS:
        reply = client.get(path, headers=ANALYST)
        assert reply.status_code == 200, (path, reply.json)
        out[path] = reply.data
    return out


def test_a_dump_restored_into_a_fresh_database_serves_the_same(
    settings, clean_db, database_url, restored_url, tmp_path
):
    app = create_app(settings.replace(device_token_cache_seconds=0))
    records = []
    for m in range(30):
        moment = T + timedelta(minutes=m)
        records += [meter_rec("CP1:1", moment, kwh=1.0), vehicle_rec("V1", "CP1:1", moment, 0.9)]
    with clean_db.begin() as conn:
        write_batch(conn, records)
        transactions.start(conn, "CP1", 1, "TAG-1", T, Decimal(100))
        refresh.refresh(conn, AS_OF)
    token = issue(app, "meter", "M-live")
    before = answers(app)

    dump = tmp_path / "ev.sql"
    subprocess.run(
        [BIN / "pg_dump", "--no-owner", "--file", dump, libpq(make_url(database_url))],
        check=True,
        timeout=120,
    )
    subprocess.run(
        [BIN / "psql", "--quiet", "--set", "ON_ERROR_STOP=1", "--file", dump, libpq(restored_url)],
        check=True,
        timeout=120,
        capture_output=True,
    )

    restored = create_app(
        settings.replace(
            database_url=restored_url.render_as_string(hide_password=False),
            device_token_cache_seconds=0,
        )
    )
    assert answers(restored) == before
    assert post(restored, token, meter("M-live")).status_code == 202, "tokens came along"
    with create_engine(restored_url).connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    with clean_db.connect() as conn:
        assert version == conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

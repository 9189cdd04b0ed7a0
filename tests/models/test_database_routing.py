"""Where the database work goes: the API's reads to DATABASE_READ_URL (a replica, say), and
everything through PgBouncer in transaction mode with DATABASE_PREPARED_STATEMENTS off."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from efficiency import refresh
from readings.validation import ReadingValidator
from settings import Settings
from storage import partitions
from storage.db import execute_prepared, make_engine, make_reader
from tests.support import seed
from tests.support.constants import ANALYST_TOKEN
from tools.local import free_port
from web import create_app
from workers.consumer import Consumer

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
CLOSED = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"


def _efficiency(client) -> float:
    reply = client.get("/v1/analytics/performance/V1", headers=ANALYST)
    assert reply.status_code == 200, reply.json
    return reply.json["chargingEfficiency"]


def test_reads_are_served_from_the_read_url_alone(settings, seeded):
    # The primary unreachable, the read URL fine: analytics and fleet reads still answer.
    app = create_app(settings.replace(database_url=CLOSED, database_read_url=settings.database_url))
    client = app.test_client()
    assert _efficiency(client) == pytest.approx(seed.EXPECTED["V1"]["chargingEfficiency"])
    assert client.get("/v1/vehicles/V1", headers=ANALYST).status_code == 200
    # And the other way round: reads do not fall back to the primary.
    app = create_app(settings.replace(database_read_url=CLOSED))
    reply = app.test_client().get("/v1/analytics/performance/V1", headers=ANALYST)
    assert reply.status_code == 503


@pytest.fixture
def pgbouncer(settings) -> Iterator[str]:
    """PgBouncer (Debian's) in transaction mode in front of the test database; its URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    url = make_url(settings.database_url)
    if not os.path.exists(binary):
        pytest.skip("needs Debian's pgbouncer (make system-tools installs it)")
    if not url.host or url.host.startswith("/") or "host" in url.query:
        pytest.skip("PgBouncer here dials PostgreSQL over TCP; the embedded server is a socket")
    user = pwd.getpwnam("postgres") if "postgres" in {p.pw_name for p in pwd.getpwall()} else None
    directory = tempfile.mkdtemp(prefix="ev-pgbouncer-")
    # Its files are read by PgBouncer's own (unprivileged) user.
    os.chmod(directory, 0o755)  # noqa: S103
    port = free_port()
    password = f" password={url.password}" if url.password else ""
    with open(os.path.join(directory, "users.txt"), "w") as users:
        users.write(f'"{url.username}" ""\n')
    with open(os.path.join(directory, "pgbouncer.ini"), "w") as ini:
        ini.write(
            f"[databases]\n{url.database} = host={url.host} port={url.port or 5432} "
            f"user={url.username}{password}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n"
            f"unix_socket_dir =\nauth_type = trust\nauth_file = {directory}/users.txt\n"
            "pool_mode = transaction\ndefault_pool_size = 2\n"
            # It cannot pass per-session startup options along; migration 0004 sets them.
            "ignore_startup_parameters = extra_float_digits, options\n"
        )
    uid = str(user.pw_uid if user else 65534)
    log = open(os.path.join(directory, "pgbouncer.log"), "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", binary,
         f"{directory}/pgbouncer.ini"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while subprocess.run(["bash", "-c", f"echo > /dev/tcp/127.0.0.1/{port}"],
                         capture_output=True).returncode:  # fmt: skip
        assert process.poll() is None, "PgBouncer exited: see its log in " + directory
        assert time.monotonic() < deadline, "PgBouncer did not start"
        time.sleep(0.1)
    yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    process.terminate()
    process.wait(10)
    log.close()
    shutil.rmtree(directory, ignore_errors=True)


def _read_twice_with_the_first_server_busy(settings: Settings) -> None:
    """A read, then (its server connection held by another client's transaction) another."""
    query = "SELECT vehicle_id FROM vehicle_efficiency_24h WHERE vehicle_id = $1"
    with make_reader(settings).connect() as conn:
        execute_prepared(conn, "ev_routing_test", query, ("V1",)).all()
        other = make_reader(settings).connect()
        other.execute(text("BEGIN"))
        other.execute(text("SELECT 1"))  # takes the server connection the read just used
        try:
            assert execute_prepared(conn, "ev_routing_test", query, ("V1",)).all() == [("V1",)]
        finally:
            other.execute(text("ROLLBACK"))
            other.close()


@pytest.mark.system
def test_pgbouncer_transaction_mode_needs_prepared_statements_off(settings, seeded, pgbouncer):
    pooled = settings.replace(database_read_url=pgbouncer)
    # On: the next transaction may get a server connection that never saw the PREPARE.
    with pytest.raises(DBAPIError, match=r"prepared statement \"ev_routing_test\" does not exist"):
        _read_twice_with_the_first_server_busy(pooled)
    # Off: each read is a plain statement, whichever server connection runs it.
    unprepared = pooled.replace(database_prepared_statements=False)
    _read_twice_with_the_first_server_busy(unprepared)
    client = create_app(unprepared).test_client()
    for _ in range(5):
        assert _efficiency(client) == pytest.approx(seed.EXPECTED["V1"]["chargingEfficiency"])
    # Minutes are still cut in UTC: the sessions PgBouncer opened got the database's defaults.
    with make_reader(unprepared).connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar() == "UTC"


@pytest.mark.system
def test_writers_refresh_and_maintenance_work_through_pgbouncer_in_transaction_mode(
    settings, clean_db, stream, pgbouncer
):
    # Everything a worker does is one transaction at a time (COPY into a temporary table that
    # drops at commit, advisory locks held by transactions): no session state to lose.
    pooled = settings.replace(database_url=pgbouncer, database_prepared_statements=False)
    engine = make_engine(pooled, pool_size=2)
    as_of = datetime.fromisoformat(seed.AS_OF)
    records, _ = ReadingValidator(settings, clock=lambda: as_of).validate(seed.readings())
    stream.add(records, bound=1000)
    consumer = Consumer("pooled#0", stream, engine, pooled)
    assert consumer.process(stream.read_new("pooled#0", 1000), threading.Event())
    assert stream.backlog() == 0
    with engine.begin() as conn:
        refreshed = refresh.refresh(conn, as_of)
    assert refreshed is not None
    assert refreshed.vehicles == 2
    # A week back, not the seed's ten years: a year of day partitions in every history table
    # would make each later TRUNCATE of this database take more locks than the server has.
    result = partitions.maintain(engine, days_ahead=1, retention_days=7)
    assert not result.skipped
    client = create_app(pooled).test_client()
    assert _efficiency(client) == pytest.approx(seed.EXPECTED["V1"]["chargingEfficiency"])

"""DATABASE_READ_URL on a real streaming replica (tests/support/replica.py): web and a worker on
a primary of the test's own, the API's reads on its hot standby, and the standby's replay paused
to show what lag does (docs/SCALING.md, "Read replicas"): the analytics and device reads answer
what the replica has replayed, stale by its lag and caught up once replay resumes, while a
device's credentials are read from the primary, so a revocation or a new device counts at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text

from tests.support.factories import meter, vehicle
from tests.support.helpers import wait_until
from tests.support.replica import StreamingReplica
from tests.support.service import Service

MINUTE = datetime.now(UTC).replace(second=10, microsecond=0) - timedelta(minutes=30)


@pytest.fixture
def replicated(
    private_postgres, service_env, tmp_path
) -> Iterator[tuple[Service, StreamingReplica]]:
    replica = StreamingReplica(private_postgres, private_postgres.directory / "replica")
    env = {
        **service_env,
        "DATABASE_URL": private_postgres.url,
        "DATABASE_READ_URL": replica.url,
        # Every read asks the database, and a token is judged again on each request.
        "READ_CACHE_SECONDS": "0",
        "DEVICE_TOKEN_CACHE_SECONDS": "0",
    }
    service = Service(env=env, logs=tmp_path / "logs")
    try:
        yield service, replica
    finally:
        service.stop_all()
        replica.stop()


def _efficiency(service: Service, vehicle_id: str) -> float | None:
    reply = service.get(f"/v1/analytics/performance/{vehicle_id}")
    return orjson.loads(reply.data)["chargingEfficiency"] if reply.status == 200 else None


def _charge(service: Service, vehicle_id: str, minutes: range, dc_kwh: float) -> None:
    body = []
    for minute in minutes:
        when = MINUTE + timedelta(minutes=minute)
        body += [meter("RM1", when, kwh=1.0), vehicle(vehicle_id, "RM1", when, kwh=dc_kwh)]
    assert service.post(body).status == 202


def _stored(engine, device_id: str, kind: str = "vehicle") -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(f"SELECT count(*) FROM {kind}_readings WHERE {kind}_id = :d"), {"d": device_id}
            ).scalar_one()
        )


def test_reads_lag_with_the_replica_while_credentials_read_the_primary(
    replicated, private_postgres
):
    service, replica = replicated
    primary = private_postgres.engine()
    service.start("web")
    service.start("worker")

    _charge(service, "RV1", range(3), dc_kwh=0.9)
    wait_until(lambda: _stored(primary, "RV1") == 3, 60, "the worker to commit on the primary")
    service.flask("refresh-performance")
    wait_until(lambda: _efficiency(service, "RV1") == 0.9, 30, "the replica to replay the refresh")

    # Replay paused: the primary moves on, the replica's answers stay where they were.
    replica.pause_replay()
    _charge(service, "RV1", range(3, 6), dc_kwh=0.6)
    wait_until(lambda: _stored(primary, "RV1") == 6, 60, "the worker to commit on the primary")
    service.flask("refresh-performance")
    with primary.connect() as conn:
        on_primary = conn.execute(
            text("SELECT dc_kwh / ac_kwh FROM vehicle_efficiency_24h WHERE vehicle_id = 'RV1'")
        ).scalar_one()
    assert float(on_primary) == pytest.approx(0.75)
    assert _efficiency(service, "RV1") == 0.9, "served from the paused replica: stale"
    history = orjson.loads(service.get("/v1/vehicles/RV1/readings").data)
    assert len(history["readings"]) == 3, "history too is the replica's"
    assert replica.lag_seconds() > 0

    # Credentials are the primary's: a device added now is let in, one revoked is refused.
    token = service.flask("devices", "add", "meter", "RM2").stdout.strip()
    assert service.post(meter("RM2", MINUTE), token=token).status == 202
    wait_until(lambda: _stored(primary, "RM2", "meter") == 1, 60, "RM2's reading on the primary")
    assert service.get("/v1/meters/RM2").status == 404, "its state is the replica's: not yet"
    service.flask("devices", "revoke", "meter", "RM2")
    refused = service.post(meter("RM2", MINUTE + timedelta(minutes=1)), token=token)
    assert refused.status == 401

    # Replay resumed: the replica catches up and so do its answers.
    replica.resume_replay()
    wait_until(lambda: _efficiency(service, "RV1") == 0.75, 30, "the replica to catch up")
    wait_until(lambda: service.get("/v1/meters/RM2").status == 200, 30, "RM2's state replayed")
    history = orjson.loads(service.get("/v1/vehicles/RV1/readings").data)
    assert len(history["readings"]) == 6
    primary.dispose()


def test_the_replica_is_a_standby_of_the_primary(replicated):
    """Not the same database under two names: the replica refuses writes and follows the WAL."""
    _, replica = replicated
    engine = replica.engine()
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
            with pytest.raises(Exception, match="read-only transaction"):
                conn.execute(text("CREATE TABLE t (x int)"))
    finally:
        engine.dispose()
    assert os.path.exists(replica.pgdata / "standby.signal")

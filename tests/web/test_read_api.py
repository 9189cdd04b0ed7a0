"""The read endpoints over real PostgreSQL: analytics, current state, health."""

from __future__ import annotations

import pytest

from readings.writer import write_batch
from tests.support import seed
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN
from tests.support.factories import at, meter_rec, vehicle_rec
from web import create_app

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}


# Tests here write to the database through the app: emptied after each.
pytestmark = pytest.mark.usefixtures("clean_db")


def test_performance_of_a_vehicle(client, seeded):
    reply = client.get("/v1/analytics/performance/V1", headers=ANALYST)
    assert reply.status_code == 200
    body = reply.json
    for key, value in seed.EXPECTED["V1"].items():
        assert body[key] == pytest.approx(value, abs=1e-9), key
    assert body["windowStart"] == "2026-02-09T15:00:00Z"
    assert body["windowEnd"] == "2026-02-10T15:00:00Z"
    assert body["minutesCounted"] == 5
    assert body["refreshedAt"].endswith("Z")


def test_vehicle_without_data_is_404_with_the_seed_message(client, seeded):
    reply = client.get("/v1/analytics/performance/V3", headers=ANALYST)
    assert reply.status_code == 404
    assert reply.json == seed.NOT_FOUND


def test_readings_not_yet_refreshed_say_so_in_headers_with_the_seeds_body(client, seeded, clean_db):
    """The seed was refreshed as of 2026-02-10T15:00Z; V9's readings arrive after it."""
    with clean_db.begin() as conn:
        write_batch(
            conn, [meter_rec("M9", at(60 * 24 * 3)), vehicle_rec("V9", "M9", at(60 * 24 * 3))]
        )
    message = seed.NOT_FOUND["message"]
    for path, body in (
        ("/v1/analytics/performance/V9", {"vehicleId": "V9", "message": message}),
        ("/v1/analytics/meters/M9", {"meterId": "M9", "message": message}),
    ):
        reply = client.get(path, headers=ANALYST)
        assert reply.status_code == 404
        assert reply.json == body, "exactly the seed's body"
        assert reply.headers["Refresh-Pending"].startswith("readings up to ")
        assert "not yet counted; next refresh due " in reply.headers["Refresh-Pending"]
        assert int(reply.headers["Retry-After"]) >= 1
    # A vehicle with nothing stored, or nothing newer than the refresh: the plain 404.
    for vehicle in ("V3", "V-NONE"):
        reply = client.get(f"/v1/analytics/performance/{vehicle}", headers=ANALYST)
        assert reply.status_code == 404
        assert "Refresh-Pending" not in reply.headers


def test_invalid_vehicle_id_is_400(client):
    reply = client.get("/v1/analytics/performance/" + "x" * 65, headers=ANALYST)
    assert reply.status_code == 400
    assert reply.json["error"] == "invalid_id"


def test_reads_need_an_analyst_token(client, seeded):
    assert client.get("/v1/analytics/performance/V1").status_code == 401
    device = {"Authorization": f"Bearer {DEVICE_TOKEN}"}
    assert client.get("/v1/analytics/performance/V1", headers=device).status_code == 403
    assert client.get("/v1/meters/M1", headers=device).status_code == 403


def test_current_state_of_meter_and_vehicle(client, clean_db):
    with clean_db.begin() as conn:
        write_batch(
            conn,
            [
                meter_rec("M1", at(1), kwh=0.5, voltage=231.25),
                vehicle_rec("V1", "M1", at(2), kwh=0.4, soc=55.5, battery_temp=29.75),
            ],
        )
    meter = client.get("/v1/meters/M1", headers=ANALYST)
    assert meter.status_code == 200
    assert meter.json["kwhConsumedAc"] == 0.5
    assert meter.json["voltage"] == 231.25
    assert meter.json["timestamp"] == "2026-02-10T14:01:10Z"
    vehicle = client.get("/v1/vehicles/V1", headers=ANALYST)
    assert vehicle.status_code == 200
    assert (vehicle.json["meterId"], vehicle.json["soc"], vehicle.json["batteryTemp"]) == (
        "M1",
        55.5,
        29.75,
    )


def test_unknown_device_is_404(client):
    assert client.get("/v1/meters/M404", headers=ANALYST).status_code == 404
    reply = client.get("/v1/vehicles/V404", headers=ANALYST)
    assert reply.status_code == 404
    assert reply.json["vehicleId"] == "V404"


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json["checks"] == {"postgres": "ok", "redis": "ok"}


def test_not_ready_when_redis_or_postgres_is_unreachable(settings):
    down = settings.replace(
        redis_url="redis://127.0.0.1:9/0",
        redis_timeout_seconds=0.3,
        database_url="postgresql+psycopg2://postgres@127.0.0.1:9/none",
    )
    reply = create_app(down).test_client().get("/readyz")
    assert reply.status_code == 503
    checks = reply.get_json()["checks"]
    assert checks["redis"].startswith("unavailable")
    assert checks["postgres"].startswith("unavailable")


def test_reads_answer_503_when_postgres_is_unreachable(settings):
    down = settings.replace(database_url="postgresql+psycopg2://postgres@127.0.0.1:9/none")
    reply = create_app(down).test_client().get("/v1/analytics/performance/V1", headers=ANALYST)
    assert reply.status_code == 503
    assert reply.headers["Retry-After"]

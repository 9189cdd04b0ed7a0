"""No device can change another device's figures: the attack of one vehicle on another's minutes,
through the real API, stream, history and refresh on PostgreSQL and Redis."""

from __future__ import annotations

import pytest

from efficiency import refresh
from tests.support.constants import ANALYST_TOKEN
from tests.support.credentials import cli, issue, post
from tests.support.factories import at, meter, vehicle
from web import create_app
from workers.store import store_entries

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}


@pytest.fixture
def app(settings, clean_db):
    return create_app(settings.replace(device_token_cache_seconds=0))


def written_and_refreshed(app, stream, engine) -> dict:
    """Everything queued, stored as the workers would, then the efficiency of VX2."""
    entries = stream.read_new("trust#0", 1_000_000)
    with engine.begin() as conn:
        store_entries(conn, entries)
        refresh.refresh(conn, at(10))
    reply = app.test_client().get("/v1/analytics/performance/VX2", headers=ANALYST)
    return {"status": reply.status_code, **reply.json}


def test_a_vehicle_cannot_make_another_vehicles_minutes_not_exclusive(app, stream, clean_db):
    mx2 = issue(app, "meter", "MX2")
    vx2 = issue(app, "vehicle", "VX2")
    v1 = issue(app, "vehicle", "V1")
    cli(app, "bind", "VX2", "MX2")
    cli(app, "bind", "V1", "M1")
    for minute in range(5):
        assert post(app, mx2, meter("MX2", at(minute), kwh=1.0)).status_code == 202
        assert post(app, vx2, vehicle("VX2", "MX2", at(minute, 30), kwh=0.9)).status_code == 202
    honest = written_and_refreshed(app, stream, clean_db)
    assert honest["status"] == 200
    assert honest["chargingEfficiency"] == pytest.approx(0.9)

    # The attack: V1 claims MX2 in the minutes VX2 charges there.
    attack = [vehicle("V1", "MX2", at(minute, 40), kwh=0.1) for minute in range(5)]
    reply = post(app, v1, attack)
    assert reply.status_code == 422
    assert all(
        "not bound to meter MX2" in r["errors"]["meterId"][0] for r in reply.json["rejected"]
    )
    # Its own meter still works for it.
    assert post(app, v1, vehicle("V1", "M1", at(6))).status_code == 202

    after = written_and_refreshed(app, stream, clean_db)
    assert after["status"] == 200, "VX2's minutes are still its own"
    for figure in ("totalAcConsumedKwh", "totalDcDeliveredKwh", "chargingEfficiency"):
        assert after[figure] == honest[figure]


def test_a_gateway_token_stays_free_to_write_any_pairing(app, stream, clean_db, settings):
    gateway = settings.device_tokens[0]
    assert post(app, gateway, [vehicle("V1", "MX2"), vehicle("V2", "MX9")]).status_code == 202
    assert [r[2:4] for e in stream.read_new("t#0", 100) for r in e.records] == [
        ["V1", "MX2"],
        ["V2", "MX9"],
    ]

"""Per-device tokens on real PostgreSQL and Redis: issued by `flask devices`, bound to one device,
revoked within the cache's lifetime, while the role tokens keep working as fleet gateways."""

from __future__ import annotations

import time

import orjson
import pytest
from sqlalchemy import event, text

from devices import cache as credentials_cache
from devices.credentials import digest
from tests.support.constants import DEVICE_TOKEN
from tests.support.credentials import cli, issue, post, queued
from tests.support.factories import meter, vehicle
from web import create_app, services


@pytest.fixture
def app(settings, clean_db):
    # No caching unless a test asks for it: each request sees the table as it is.
    return create_app(settings.replace(device_token_cache_seconds=0))


def test_a_meter_token_writes_its_own_readings_and_no_one_elses(app, stream):
    token = issue(app, "meter", "M1")
    reply = post(app, token, [meter("M1"), meter("M2"), vehicle("V1", "M1"), meter("M1", kwh=-1)])
    assert reply.status_code == 202
    assert reply.json["accepted"] == 1
    assert [r["index"] for r in reply.json["rejected"]] == [1, 2, 3]
    assert reply.json["rejected"][0]["errors"] == {
        "meterId": [
            "This token belongs to meter M1: it may only write meter readings with meterId M1."
        ]
    }
    assert "vehicleId" in reply.json["rejected"][1]["errors"]
    assert "kwhConsumedAc" in reply.json["rejected"][2]["errors"], "still validated as usual"
    assert queued(stream) == ["M1"]


def test_a_vehicle_token_names_only_the_meters_it_is_bound_to(app, stream):
    token = issue(app, "vehicle", "V1")
    assert "bound vehicle V1 to 2 more meter(s)" in cli(app, "bind", "V1", "M7", "M8").output
    reply = post(
        app,
        token,
        [vehicle("V1", "M7"), vehicle("V1", "M8"), vehicle("V2", "M7"), vehicle("V1", "M9")],
    )
    assert reply.status_code == 202
    assert reply.json["accepted"] == 2
    assert [r["index"] for r in reply.json["rejected"]] == [2, 3]
    assert reply.json["rejected"][1]["errors"]["meterId"] == [
        "Vehicle V1 is not bound to meter M9, so its token may not name it (bound: M7, M8). An "
        "operator binds it with `flask devices bind V1 M9`."
    ]
    assert queued(stream) == ["V1", "V1"]


def test_bindings_are_listed_and_taken_back(app, stream):
    token = issue(app, "vehicle", "V1")
    assert post(app, token, vehicle("V1", "M1")).status_code == 422, "bound to no meter yet"
    cli(app, "bind", "V1", "M1", "M2")
    cli(app, "bind", "V1", "M2")  # again: nothing new
    cli(app, "bind", "V2", "M1")
    assert [orjson.loads(line) for line in cli(app, "bindings").stdout.splitlines()] == [
        {"vehicleId": "V1", "meters": ["M1", "M2"]},
        {"vehicleId": "V2", "meters": ["M1"]},
    ]
    assert post(app, token, vehicle("V1", "M1")).status_code == 202
    assert "unbound 1 meter(s)" in cli(app, "unbind", "V1", "M1").output
    assert post(app, token, vehicle("V1", "M1")).status_code == 422
    assert orjson.loads(cli(app, "bindings", "V1").stdout) == {"vehicleId": "V1", "meters": ["M2"]}
    assert "device id must be" in cli(app, "bind", "V1", "M 3", ok=False).output


def test_only_foreign_readings_is_422_and_nothing_queued(app, stream):
    token = issue(app, "meter", "M1")
    reply = post(app, token, meter("M2"))
    assert reply.status_code == 422
    assert reply.json["accepted"] == 0
    assert queued(stream) == []


def test_role_tokens_keep_working_as_fleet_gateways(app, stream):
    issue(app, "meter", "M1")
    reply = post(app, DEVICE_TOKEN, [meter("M1"), meter("M2"), vehicle("V9", "M1")])
    assert reply.json == {"accepted": 3, "rejected": [], "rejectedCount": 0}
    assert queued(stream) == ["M1", "M2", "V9"]


def test_without_gateway_tokens_only_the_devices_own_tokens_write(settings, stream, clean_db):
    app = create_app(settings.replace(device_tokens=(), device_token_cache_seconds=0))
    token = issue(app, "meter", "M1")
    assert post(app, token, meter("M1")).status_code == 202
    assert post(app, DEVICE_TOKEN, meter("M1")).status_code == 401
    assert post(app, "made-up", meter("M1")).status_code == 401
    assert queued(stream) == ["M1"]


def test_a_device_token_cannot_read_analytics_and_a_made_up_one_is_401(app):
    token = issue(app, "vehicle", "V1")
    reads = app.test_client().get(
        "/v1/analytics/performance/V1", headers={"Authorization": f"Bearer {token}"}
    )
    assert reads.status_code == 403
    assert post(app, "evd_" + "x" * 43, meter("M1")).status_code == 401
    assert post(app, token[:-1], vehicle("V1")).status_code == 401


def test_only_a_hash_is_stored_and_the_listing_shows_a_prefix(app, clean_db):
    token = issue(app, "meter", "M1")
    with clean_db.connect() as conn:
        stored = conn.execute(text("SELECT * FROM device_credentials")).mappings().one()
    assert token.encode() not in orjson.dumps({k: str(v) for k, v in stored.items()})
    (line,) = cli(app, "list").stdout.splitlines()
    listed = orjson.loads(line)
    assert (listed["kind"], listed["id"], listed["revokedAt"]) == ("meter", "M1", None)
    assert token.startswith(listed["token"].rstrip("…"))
    assert len(listed["token"]) < 16


def test_revoke_and_rotate(app, stream):
    old = issue(app, "meter", "M1")
    assert "already has a live token" in cli(app, "add", "meter", "M1", ok=False).output
    new = cli(app, "rotate", "meter", "M1").stdout.strip()
    assert new != old
    assert post(app, old, meter("M1")).status_code == 401
    assert post(app, new, meter("M1")).status_code == 202
    cli(app, "revoke", "meter", "M1")
    assert post(app, new, meter("M1")).status_code == 401
    assert "has no live token" in cli(app, "revoke", "meter", "M1", ok=False).output
    listed = [orjson.loads(line) for line in cli(app, "list", "--revoked").stdout.splitlines()]
    assert len(listed) == 2
    assert all(row["revokedAt"] for row in listed)
    assert cli(app, "list").stdout == ""


def test_bad_arguments_are_refused_with_a_reason(app):
    assert "Invalid value" in cli(app, "add", "router", "C1", ok=False).output
    assert "device id must be" in cli(app, "add", "meter", "M 1", ok=False).output


def test_a_revoked_token_is_refused_within_the_cache_lifetime(settings, clean_db):
    ttl = 1.0
    app = create_app(settings.replace(device_token_cache_seconds=ttl))
    token = issue(app, "meter", "M1")
    assert post(app, token, meter("M1")).status_code == 202
    cli(app, "revoke", "meter", "M1")
    revoked_at = time.monotonic()
    while post(app, token, meter("M1")).status_code == 202:
        assert time.monotonic() - revoked_at < ttl + 0.5, "still accepted past the cache lifetime"
        time.sleep(0.05)
    assert post(app, token, meter("M1")).status_code == 401


CLOSED = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"


def _queries(engine) -> list[str]:
    """Every statement `engine` runs from now on."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_made_up_tokens_cost_no_query_and_no_memory_however_long(app):
    ev = services(app)
    seen = _queries(ev.engine)
    for i in range(600):
        huge = f"evd_{i}" + "x" * 400_000
        assert post(app, huge, meter("M1")).status_code == 401
    assert post(app, "evd_" + "x" * 44, meter("M1")).status_code == 401  # one character over
    assert seen == []
    assert len(ev.credentials._found) == 0


def test_remembered_tokens_are_bounded_the_least_recently_used_dropped_first(
    settings, clean_db, monkeypatch
):
    monkeypatch.setattr(credentials_cache, "MOST_REMEMBERED", 3)
    app = create_app(settings.replace(device_token_cache_seconds=60))
    own = issue(app, "meter", "M1")
    cache = services(app).credentials
    assert post(app, own, meter("M1")).status_code == 202
    for i in range(2):
        assert post(app, f"evd_{i:043d}", meter("M1")).status_code == 401
    assert post(app, own, meter("M1")).status_code == 202  # used again: most recent
    for i in range(2, 4):
        assert post(app, f"evd_{i:043d}", meter("M1")).status_code == 401
    assert len(cache._found) == 3
    assert digest(own) in cache._found, "the device in use stays; made-up ones made room"


def test_ingest_goes_on_with_the_last_known_credentials_while_postgres_is_away(
    settings, stream, clean_db
):
    app = create_app(settings)
    meter_token = issue(app, "meter", "M1")
    vehicle_token = issue(app, "vehicle", "V1")
    cli(app, "bind", "V1", "M1")
    assert post(app, meter_token, meter("M1")).status_code == 202
    assert post(app, vehicle_token, vehicle("V1", "M1")).status_code == 202

    # A web process started while PostgreSQL is unreachable (nothing in its memory).
    down = create_app(settings.replace(database_url=CLOSED))
    assert post(down, meter_token, meter("M1", kwh=0.6)).status_code == 202
    reply = post(down, vehicle_token, [vehicle("V1", "M1", kwh=0.4), vehicle("V1", "M2")])
    assert reply.status_code == 202
    assert [r["index"] for r in reply.json["rejected"]] == [1], "its bindings are known too"
    never_seen = post(down, "evd_" + "0" * 43, meter("M1"))
    assert never_seen.status_code == 503, "cannot be judged now: retried, not refused"
    assert never_seen.headers["Retry-After"].isdigit()
    assert queued(stream) == ["M1", "V1", "M1", "V1"]

    # A revoked token leaves the last known credentials with its revocation: not let in.
    cli(app, "revoke", "meter", "M1")
    down = create_app(settings.replace(database_url=CLOSED))
    assert post(down, meter_token, meter("M1")).status_code == 503
    assert queued(stream) == [], "nothing more was queued"


def test_revocation_is_read_from_the_primary_not_the_read_url(settings, clean_db):
    # Reads go to a replica that is unreachable (or lagging): tokens are judged all the same.
    app = create_app(settings.replace(database_read_url=CLOSED, device_token_cache_seconds=0))
    token = issue(app, "meter", "M1")
    assert post(app, token, meter("M1")).status_code == 202
    cli(app, "revoke", "meter", "M1")
    assert post(app, token, meter("M1")).status_code == 401

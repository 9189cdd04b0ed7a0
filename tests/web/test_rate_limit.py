"""Per-token ingest limits on real Redis: counted across web processes, a 429 with the standard
headers past the limit, and nothing of a refused request queued."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.support.constants import DEVICE_TOKEN
from tests.support.credentials import issue, queued
from tests.support.factories import at, meter
from web import create_app
from web.api.rate_limit import WINDOW_SECONDS


@pytest.fixture(autouse=True)
def _not_at_a_window_edge():
    """The windows are whole minutes: start a test well inside one, so it stays in it."""
    if time.time() % WINDOW_SECONDS > WINDOW_SECONDS - 10:
        time.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.1)


def post(app, token: str, minute: int):
    return app.test_client().post(
        "/v1/ingest",
        data=orjson.dumps(meter("M1", at(minute))),
        headers={"Authorization": f"Bearer {token}"},
        content_type="application/json",
    )


def test_a_device_over_its_limit_gets_429_and_loses_nothing_accepted(settings, clean_db, stream):
    app = create_app(settings.replace(device_rate_per_minute=3))
    token = issue(app, "meter", "M1")
    replies = [post(app, token, minute) for minute in range(5)]
    assert [r.status_code for r in replies] == [202, 202, 202, 429, 429]
    assert [r.headers["RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0", "0"]
    assert all(r.headers["RateLimit-Limit"] == "3" for r in replies)
    refused = replies[3]
    assert refused.json["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_SECONDS
    assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
    assert queued(stream) == ["M1"] * 3, "exactly the three readings answered 202"


def test_web_processes_share_a_token_count_and_tokens_count_apart(settings, clean_db):
    limited = settings.replace(device_rate_per_minute=2)
    first, second = create_app(limited), create_app(limited)
    m1 = issue(first, "meter", "M1")
    m2 = issue(first, "meter", "M2")
    assert post(first, m1, 0).status_code == 202
    assert post(second, m1, 1).status_code == 202
    assert post(first, m1, 2).status_code == 429
    m2_reply = first.test_client().post(
        "/v1/ingest",
        data=orjson.dumps(meter("M2")),
        headers={"Authorization": f"Bearer {m2}"},
        content_type="application/json",
    )
    assert m2_reply.status_code == 202


def test_gateway_tokens_are_unlimited_unless_set(settings, clean_db):
    app = create_app(settings)
    replies = [post(app, DEVICE_TOKEN, minute) for minute in range(5)]
    assert {r.status_code for r in replies} == {202}
    assert "RateLimit-Limit" not in replies[0].headers

    capped = create_app(settings.replace(gateway_rate_per_minute=2))
    statuses = [post(capped, DEVICE_TOKEN, minute).status_code for minute in range(10, 13)]
    assert statuses == [202, 202, 429]

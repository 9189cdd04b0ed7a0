"""Bearer tokens: who is let in, and the refusal to start open by accident."""

from __future__ import annotations

import pytest

from settings import Settings
from web.auth import ANALYST, DEVICE, AuthNotConfigured, bearer, check_configured, role_of

SETTINGS = Settings(device_tokens=("dev-a", "dev-b"), analyst_tokens=("ana",))


@pytest.mark.parametrize(
    ("header", "role"),
    [
        ("Bearer dev-a", DEVICE),
        ("Bearer dev-b", DEVICE),
        ("Bearer ana", ANALYST),
        ("Bearer nope", None),
        ("Bearer ", None),
        # The scheme is case-insensitive (RFC 9110), and a tab is a blank too.
        ("bearer ana", ANALYST),
        ("BEARER ana", ANALYST),
        ("Bearer\tana", ANALYST),
        ("Bearerana", None),
        ("Basic ana", None),
        ("ana", None),
        (None, None),
        ("Bearer dev-a-longer", None),
    ],
)
def test_role_of_header(header, role):
    assert role_of(SETTINGS, bearer(header)) == role


def test_start_is_refused_without_analyst_tokens():
    with pytest.raises(AuthNotConfigured, match="ANALYST_TOKENS not set"):
        check_configured(Settings())
    with pytest.raises(AuthNotConfigured, match="ANALYST_TOKENS not set"):
        check_configured(Settings(device_tokens=("d",)))


def test_start_is_allowed_with_tokens_or_auth_disabled_explicitly():
    check_configured(SETTINGS)
    check_configured(Settings(auth_disabled=True))
    # Devices with tokens of their own only (`flask devices add`): no gateway token needed.
    check_configured(Settings(analyst_tokens=("ana",)))


@pytest.mark.parametrize(
    ("headers", "said", "challenge"),
    [
        ({}, "No bearer token", 'Bearer realm="ev-telemetry"'),
        ({"Authorization": "Basic abc"}, "No bearer token", 'Bearer realm="ev-telemetry"'),
        (
            {"Authorization": "Bearer not-a-token"},
            "not one this service knows, or it was revoked",
            'Bearer realm="ev-telemetry", error="invalid_token"',
        ),
    ],
)
def test_a_missing_and_a_wrong_token_are_told_apart(client, headers, said, challenge):
    for path in ("/v1/ingest", "/v1/analytics/performance/V1"):
        method = client.post if path == "/v1/ingest" else client.get
        reply = method(path, headers=headers)
        assert reply.status_code == 401
        assert reply.json["error"] == "unauthorized"
        assert said in reply.json["message"]
        assert reply.headers["WWW-Authenticate"] == challenge


def test_an_unknown_field_near_a_known_one_names_it(client):
    reading = {
        "meterId": "M1",
        "kwhConsumedAC": 0.5,  # a case slip
        "voltag": 230.0,  # a letter off
        "colour": "red",  # nothing near
        "timestamp": "2026-11-27T10:00:00Z",
    }
    reply = client.post(
        "/v1/ingest", json=reading, headers={"Authorization": "Bearer device-token-for-tests"}
    )
    assert reply.status_code == 422
    errors = reply.json["rejected"][0]["errors"]
    assert errors["kwhConsumedAC"] == ["Unknown field: did you mean 'kwhConsumedAc'?"]
    assert errors["voltag"] == ["Unknown field: did you mean 'voltage'?"]
    assert errors["colour"] == ["Unknown field."]

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

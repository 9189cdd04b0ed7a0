"""Which charger may connect how (chargers/tls.py), and the server's TLS: 1.2 at the least, a
client certificate optional but verified."""

from __future__ import annotations

import ssl

import pytest
import trustme

from chargers import tls
from settings import SettingError, Settings


@pytest.mark.parametrize(
    ("profile", "over_tls", "common_name", "refused"),
    [
        (1, False, None, None),
        (1, True, None, None),
        (2, False, None, "connect over wss://"),
        (2, True, None, None),
        (3, False, "CP", "connect over wss://"),
        (3, True, None, "present its client certificate"),
        (3, True, "OTHER", "names OTHER, not CP"),
        (3, True, "CP", None),
    ],
)
def test_a_charger_is_never_accepted_below_its_profile(profile, over_tls, common_name, refused):
    said = tls.refusal(profile, "CP", over_tls, common_name)
    assert (said is None) == (refused is None)
    if refused:
        assert refused in (said or "")
    assert tls.certified(profile, "CP", common_name) == (profile == 3 and common_name == "CP")


def test_the_server_speaks_tls_1_2_or_newer_and_verifies_a_certificate_when_shown(tmp_path):
    assert tls.server_context(Settings()) is None
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    server.private_key_and_cert_chain_pem.write_to_path(tmp_path / "both.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    both = str(tmp_path / "both.pem")
    plain = tls.server_context(Settings(ocpp_tls_cert=both, ocpp_tls_key=both))
    assert plain is not None
    assert plain.minimum_version == ssl.TLSVersion.TLSv1_2
    assert plain.verify_mode == ssl.CERT_NONE
    with_ca = tls.server_context(
        Settings(ocpp_tls_cert=both, ocpp_tls_key=both, ocpp_tls_client_ca=str(tmp_path / "ca.pem"))
    )
    assert with_ca is not None
    assert with_ca.verify_mode == ssl.CERT_OPTIONAL


def test_tls_settings_go_together():
    with pytest.raises(SettingError, match="go together"):
        Settings.from_env({"OCPP_TLS_CERT": "/x.pem"})
    with pytest.raises(SettingError, match="needs OCPP_TLS_CERT"):
        Settings.from_env({"OCPP_TLS_CLIENT_CA": "/ca.pem"})

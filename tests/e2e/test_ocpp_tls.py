"""OCPP security profiles 2 and 3 through the real ocpp process: wss:// with a certificate made
by a test CA, chargers at profile 2 (Basic over TLS) and 3 (a client certificate, no password),
and each refusal: plain ws:// below a charger's profile, no certificate, another charger's
certificate, an unknown CA, an expired certificate."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.typing import Subprotocol

from tests.support.chargers import basic, start_chargers
from tests.support.helpers import listening, wait_until


def _boot(url: str, cp: str, headers: dict, context: ssl.SSLContext | None) -> str:
    """Connect as `cp` and boot: the BootNotification's status."""

    async def run() -> str:
        async with connect(
            f"{url}/{cp}",
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=headers,
            ssl=context,
            open_timeout=10,
        ) as ws:
            client = Client16(cp, ws)
            serving = asyncio.create_task(client.start())
            try:
                boot = await client.call(
                    call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
                )
                return str(boot.status)
            finally:
                serving.cancel()

    return asyncio.run(run())


def _refused_status(url, cp, headers, context=None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        _boot(url, cp, headers, context)
    return refused.value.response.status_code


def _token(service, charger: str, profile: int) -> str:
    token = service.flask("devices", "add", "charger", charger).stdout.strip().splitlines()[0]
    service.flask("devices", "profile", charger, str(profile))
    return token


def test_security_profiles_2_and_3(service, tmp_path):
    server_ca, chargers_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_pem.write_to_path(tmp_path / "ocpp.key")
    server.cert_chain_pems[0].write_to_path(tmp_path / "ocpp.pem")
    for blob in server.cert_chain_pems[1:]:
        blob.write_to_path(tmp_path / "ocpp.pem", append=True)
    chargers_ca.cert_pem.write_to_path(tmp_path / "chargers-ca.pem")

    tokens = {cp: _token(service, cp, profile) for cp, profile in (("P1", 1), ("P2", 2), ("P3", 3))}

    # Plain ws://: a charger at profile 1 is let in, those at 2 and 3 never.
    url = start_chargers(service)
    assert _boot(url, "P1", basic("P1", tokens["P1"]), None) == "Accepted"
    assert _refused_status(url, "P2", basic("P2", tokens["P2"])) == 401
    assert _refused_status(url, "P3", basic("P3", tokens["P3"])) == 401
    service.stop("ocpp")

    # wss:// with client certificates from the chargers' CA.
    service.env.update(
        OCPP_TLS_CERT=str(tmp_path / "ocpp.pem"),
        OCPP_TLS_KEY=str(tmp_path / "ocpp.key"),
        OCPP_TLS_CLIENT_CA=str(tmp_path / "chargers-ca.pem"),
    )
    port = int(service.env["OCPP_PORT"])
    service.start("ocpp")
    wait_until(lambda: listening(port), what="ocpp to listen over TLS")
    url = f"wss://127.0.0.1:{port}/ocpp"

    def context(certificate: trustme.LeafCert | None = None) -> ssl.SSLContext:
        made = ssl.create_default_context()
        server_ca.configure_trust(made)
        if certificate is not None:
            certificate.configure_cert(made)
        return made

    # Profile 1 and 2: Basic over TLS.
    assert _boot(url, "P1", basic("P1", tokens["P1"]), context()) == "Accepted"
    assert _boot(url, "P2", basic("P2", tokens["P2"]), context()) == "Accepted"
    assert _refused_status(url, "P2", basic("P2", "wrong"), context()) == 401

    # Profile 3: its certificate, no password; without it, or with another charger's, refused.
    own = chargers_ca.issue_cert("p3.chargers.test", common_name="P3")
    assert _boot(url, "P3", {}, context(own)) == "Accepted"
    assert _refused_status(url, "P3", basic("P3", tokens["P3"]), context()) == 401
    other = chargers_ca.issue_cert("p2.chargers.test", common_name="P2")
    assert _refused_status(url, "P3", {}, context(other)) == 401

    # A certificate the chargers' CA did not sign, or one expired: the TLS handshake fails, and
    # no HTTP answer comes (under TLS 1.3 the client learns it as the connection closing).
    stranger = stranger_ca.issue_cert("p3.chargers.test", common_name="P3")
    expired = chargers_ca.issue_cert(
        "p3.chargers.test",
        common_name="P3",
        not_before=datetime.now(UTC) - timedelta(days=30),
        not_after=datetime.now(UTC) - timedelta(days=1),
    )
    for refused in (stranger, expired):
        with pytest.raises((ssl.SSLError, OSError, InvalidMessage)) as failed:
            _boot(url, "P3", {}, context(refused))
        assert not isinstance(failed.value, InvalidStatus)

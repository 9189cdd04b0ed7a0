"""OCPP security profiles (docs/DESIGN.md, "Chargers ... TLS"; docs/OCPP.md, "Security
profiles"): the server's TLS (1.2 or newer) when given a certificate and key, the client
certificate a charger at profile 3 presents, and which charger may connect how.

- profile 1: Basic auth, over ws:// or wss://;
- profile 2: Basic auth over wss:// only;
- profile 3: wss:// with a client certificate signed by OCPP_TLS_CLIENT_CA whose CN is the charge
  point ID; no password needed.
A charger is never accepted below its profile; an unknown CA or an expired certificate fails the
TLS handshake itself (the certificate is verified whenever one is presented).
"""

from __future__ import annotations

import ssl
from typing import Any

from settings import Settings

PROFILES = (1, 2, 3)


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The ocpp process's TLS, or None for plain ws://."""
    if not settings.ocpp_tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.ocpp_tls_cert, settings.ocpp_tls_key)
    if settings.ocpp_tls_client_ca:
        context.load_verify_locations(settings.ocpp_tls_client_ca)
        # Optional: chargers at profiles 1 and 2 have none; one presented is always verified.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_common_name(transport: Any) -> str | None:
    """The CN of the verified client certificate on this connection, if any."""
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    for entry in (certificate or {}).get("subject", ()):
        for key, value in entry:
            if key == "commonName":
                return str(value)
    return None


def refusal(profile: int, charge_point: str, tls: bool, common_name: str | None) -> str | None:
    """Why a charger at `profile` may not connect like this; None when it may (then `certified`
    says whether its certificate stands for its password)."""
    if profile >= 2 and not tls:
        return f"Charger {charge_point} is at security profile {profile}: connect over wss://.\n"
    if profile == 3 and common_name is None:
        return f"Charger {charge_point} is at security profile 3: present its client certificate.\n"
    if profile == 3 and common_name != charge_point:
        return f"The client certificate names {common_name}, not {charge_point}.\n"
    return None


def certified(profile: int, charge_point: str, common_name: str | None) -> bool:
    """A profile 3 charger is who its verified certificate says: no password is asked."""
    return profile == 3 and common_name == charge_point

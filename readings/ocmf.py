"""OCMF signed meter values (`OCMF|<payload JSON>|<signature JSON>`, the Open Charge Metering
Format chargers' calibrated meters sign with): the signature checked against the meter's public
key, and, only once it holds, the readings its payload signs.

The bytes signed are the payload exactly as it came between the separators, so nothing here
re-encodes it. A record may arrive as the OCMF string itself or, as the OCA's application note
for OCPP has it, Base64 of that string. `signatureValid` is None (not False) when there is no key
or the algorithm is one this code does not verify: a charger is not called a forger for a curve
we lack. Nothing is read from a payload whose signature did not verify (docs/DESIGN.md, "Signed
values").
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# OCMF's signature algorithms (its table of them) that this code verifies: every one but
# ECDSA-secp192k1-SHA256, a curve OpenSSL (and so `cryptography`) does not offer. Stations write
# the brainpool names with and without the P.
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECDSA-secp192r1-SHA256": ec.SECP192R1,
    "ECDSA-secp256r1-SHA256": ec.SECP256R1,
    "ECDSA-secp256k1-SHA256": ec.SECP256K1,
    "ECDSA-secp384r1-SHA256": ec.SECP384R1,
    "ECDSA-brainpool256r1-SHA256": ec.BrainpoolP256R1,
    "ECDSA-brainpoolP256r1-SHA256": ec.BrainpoolP256R1,
    "ECDSA-brainpool384r1-SHA256": ec.BrainpoolP384R1,
    "ECDSA-brainpoolP384r1-SHA256": ec.BrainpoolP384R1,
}
# What a signature block that names none means (OCMF 0.4 onwards).
DEFAULT_ALGORITHM = "ECDSA-secp256r1-SHA256"
# A reading's units that are energy, and their factor to kWh.
_ENERGY = {"kWh": Decimal(1), "Wh": Decimal("0.001")}


@dataclass(frozen=True)
class Verdict:
    """What a signed value says once checked: `valid` True, False, or None (not checked, and
    `reason` says why); the energy readings it signs (TX, time, kWh) only when valid."""

    valid: bool | None
    reason: str | None = None
    algorithm: str | None = None
    readings: list[tuple[str | None, str | None, Decimal]] = field(default_factory=list)

    def signed_kwh(self, context: str) -> Decimal | None:
        """The signed reading a sample of this context stands for: a transaction's begin (TX
        `B`) for Transaction.Begin, else the payload's last energy reading."""
        if not self.readings:
            return None
        if context == "Transaction.Begin":
            begins = [kwh for tx, _, kwh in self.readings if tx == "B"]
            if begins:
                return begins[0]
        return self.readings[-1][2]


def record_of(signed_data: str) -> str | None:
    """The OCMF string a charger's signed value holds (as sent, or Base64 of it); None if it
    holds another format."""
    if signed_data.startswith("OCMF|"):
        return signed_data
    try:
        decoded = base64.b64decode(signed_data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.startswith("OCMF|") else None


def load_public_key(text: str) -> bytes:
    """A meter's public key as DER (SubjectPublicKeyInfo) from how meters and their makers give
    it: PEM, or the DER in hex (as printed on a calibrated meter) or Base64. ValueError saying
    what was wrong."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
    else:
        compact = "".join(text.split())
        try:
            der = bytes.fromhex(compact)
        except ValueError:
            try:
                der = base64.b64decode(compact, validate=True)
            except binascii.Error:
                raise ValueError("not PEM, nor DER in hex or Base64") from None
        try:
            key = serialization.load_der_public_key(der)
        except ValueError:
            raise ValueError("not a public key (DER SubjectPublicKeyInfo)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve key: OCMF signs with ECDSA")
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def verify(signed_data: str, public_key_der: bytes | None) -> Verdict:
    """Check a signed value against the meter's key (DER), if it has one."""
    record = record_of(signed_data)
    if record is None:
        return Verdict(None, "not OCMF: only OCMF signatures are verified")
    try:
        payload, signature = _split(record)
    except ValueError as exc:
        return Verdict(False, f"not a well-formed OCMF record: {exc}")
    algorithm = signature.get("SA") or DEFAULT_ALGORITHM
    curve = CURVES.get(algorithm)
    if curve is None:
        supported = ", ".join(sorted({a.replace("brainpoolP", "brainpool") for a in CURVES}))
        return Verdict(None, f"{algorithm!r} is not verified here (only {supported})", algorithm)
    if public_key_der is None:
        return Verdict(None, "no public key is configured for this meter", algorithm)
    key = serialization.load_der_public_key(public_key_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)  # load_public_key kept only these
    if not isinstance(key.curve, curve):
        return Verdict(False, f"the meter's key is on {key.curve.name}, not {algorithm}", algorithm)
    try:
        signature_bytes = _signature_bytes(signature)
        key.verify(signature_bytes, payload.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature) as exc:
        why = (
            "the signature does not match the payload"
            if isinstance(exc, InvalidSignature)
            else str(exc)
        )
        return Verdict(False, why, algorithm)
    return Verdict(True, None, algorithm, _readings(payload))


def _split(record: str) -> tuple[str, dict[str, Any]]:
    """The payload's exact text and the signature block of `OCMF|payload|signature`."""
    body = record[len("OCMF|") :]
    payload, separator, signature_text = body.rpartition("|")
    if not separator or not payload:
        raise ValueError("it has no '|' between payload and signature")
    try:
        signature = json.loads(signature_text)
    except json.JSONDecodeError:
        raise ValueError("its signature block is not JSON") from None
    if not isinstance(signature, dict) or not isinstance(signature.get("SD"), str):
        raise ValueError("its signature block has no SD")
    return payload, signature


def _signature_bytes(signature: dict[str, Any]) -> bytes:
    encoding = signature.get("SE") or "hex"
    if (signature.get("SM") or "application/x-der") != "application/x-der":
        raise ValueError(f"a signature in {signature['SM']!r}, not application/x-der")
    try:
        if encoding == "hex":
            return bytes.fromhex(signature["SD"])
        if encoding == "base64":
            return base64.b64decode(signature["SD"], validate=True)
    except (ValueError, binascii.Error):
        raise ValueError(f"SD is not {encoding}") from None
    raise ValueError(f"a signature encoded as {encoding!r}, neither hex nor base64")


def _readings(payload: str) -> list[tuple[str | None, str | None, Decimal]]:
    """The energy readings (TX, TM, kWh) of a payload whose signature held; exact decimals."""
    try:
        data = json.loads(payload, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError:
        return []
    found = []
    for reading in data.get("RD") or [] if isinstance(data, dict) else []:
        if not isinstance(reading, dict):
            continue
        unit, value = reading.get("RU"), reading.get("RV")
        factor = _ENERGY.get(unit) if isinstance(unit, str) else None
        if factor is not None and isinstance(value, Decimal):
            found.append((reading.get("TX"), reading.get("TM"), value * factor))
    return found

"""OCMF records signed in the test, as a calibrated meter signs them: a payload of readings and an
ECDSA-SHA256 signature over its exact text (tests' own fixtures, shaped after the published
samples of the transparency software projects)."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

CURVE_OF: dict[str, ec.EllipticCurve] = {
    "ECDSA-secp256r1-SHA256": ec.SECP256R1(),
    "ECDSA-secp384r1-SHA256": ec.SECP384R1(),
    "ECDSA-brainpool256r1-SHA256": ec.BrainpoolP256R1(),
}


def meter_key(algorithm: str = "ECDSA-secp256r1-SHA256") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVE_OF[algorithm])


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_hex(key: ec.EllipticCurvePrivateKey) -> str:
    """The key as a meter's label prints it: DER SubjectPublicKeyInfo in hex."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        .hex()
        .upper()
    )


def payload(*readings: tuple[str, str], unit: str = "kWh", serial: str = "1ACME0001") -> str:
    """A payload's exact text; each reading (TX, value as written)."""
    rd = ",".join(
        f'{{"TM":"2026-12-07T10:0{i}:00,000+0000 S","TX":"{tx}","RV":{value},'
        f'"RI":"1-b:1.8.0","RU":"{unit}","RT":"AC","EF":"","ST":"G"}}'
        for i, (tx, value) in enumerate(readings)
    )
    return (
        '{"FV":"1.0","GI":"ACME Meter","GS":"' + serial + '","GV":"1.2.3","PG":"T1",'
        '"MV":"ACME","MM":"M-1","MS":"' + serial + '","IS":true,"IL":"VERIFIED",'
        '"IT":"ISO14443","ID":"1F2D3A4F5506C7","RD":[' + rd + "]}"
    )


def record(
    key: ec.EllipticCurvePrivateKey,
    text: str,
    *,
    algorithm: str = "ECDSA-secp256r1-SHA256",
    encoding: str = "hex",
) -> str:
    """`OCMF|payload|signature` over the payload's text."""
    der = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    sd = der.hex().upper() if encoding == "hex" else base64.b64encode(der).decode()
    signature: dict[str, str] = {"SA": algorithm, "SD": sd}
    if encoding != "hex":
        signature["SE"] = encoding
    return f"OCMF|{text}|{json.dumps(signature, separators=(',', ':'))}"


def tampered(signed: str, was: str, now: str) -> str:
    """The record with a reading's value changed after signing."""
    assert f'"RV":{was},' in signed
    return signed.replace(f'"RV":{was},', f'"RV":{now},', 1)


def as_base64(signed: str) -> str:
    """How the OCA's application note has a record travel in OCPP's signedMeterData."""
    return base64.b64encode(signed.encode()).decode()

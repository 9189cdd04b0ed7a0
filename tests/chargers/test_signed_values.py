"""Signed meter values: OCMF verified against the meter's key (true, false, or null saying why),
nothing read from a payload that did not verify, a valid reading held to the unsigned one; kept
byte for byte from 1.6 and 2.0.1 sample sets, with context and transaction, a resend once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import text

from chargers import mapping
from readings import ocmf, signed
from tests.support import ocmf as fixtures

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def key():
    return fixtures.meter_key()


def der(key) -> bytes:
    return ocmf.load_public_key(fixtures.public_pem(key))


def test_a_meters_record_verifies_and_says_what_it_signed(key):
    record = fixtures.record(key, fixtures.payload(("B", "10.000"), ("E", "12.345")))
    verdict = ocmf.verify(record, der(key))
    assert (verdict.valid, verdict.reason, verdict.algorithm) == (
        True,
        None,
        "ECDSA-secp256r1-SHA256",
    )
    assert verdict.signed_kwh("Transaction.Begin") == Decimal("10.000")
    assert verdict.signed_kwh("Transaction.End") == Decimal("12.345")


def test_a_tampered_reading_fails_and_says_nothing_of_its_payload(key):
    record = fixtures.record(key, fixtures.payload(("E", "12.345")))
    forged = fixtures.tampered(record, "12.345", "19.345")
    verdict = ocmf.verify(forged, der(key))
    assert verdict.valid is False
    assert verdict.reason == "the signature does not match the payload"
    assert verdict.readings == []
    assert verdict.signed_kwh("Transaction.End") is None


def test_another_meters_key_fails(key):
    record = fixtures.record(key, fixtures.payload(("E", "1")))
    assert ocmf.verify(record, der(fixtures.meter_key())).valid is False


@pytest.mark.parametrize("algorithm", sorted(fixtures.CURVE_OF))
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_every_curve_and_encoding_offered_verifies(algorithm, encoding):
    own = fixtures.meter_key(algorithm)
    text_ = fixtures.payload(("E", "3.5"), unit="Wh")
    record = fixtures.record(own, text_, algorithm=algorithm, encoding=encoding)
    verdict = ocmf.verify(record, ocmf.load_public_key(fixtures.public_hex(own)))
    assert verdict.valid is True
    assert verdict.signed_kwh("Sample.Periodic") == Decimal("0.0035")


def test_a_record_sent_as_base64_verifies(key):
    record = fixtures.record(key, fixtures.payload(("E", "7")))
    assert ocmf.verify(fixtures.as_base64(record), der(key)).valid is True


def test_without_a_key_or_a_curve_verified_here_it_is_null_and_says_why(key):
    record = fixtures.record(key, fixtures.payload(("E", "7")))
    no_key = ocmf.verify(record, None)
    assert (no_key.valid, no_key.reason) == (None, "no public key is configured for this meter")
    k1 = record.replace("ECDSA-secp256r1-SHA256", "ECDSA-secp192k1-SHA256")
    unsupported = ocmf.verify(k1, der(key))
    assert unsupported.valid is None
    assert "'ECDSA-secp192k1-SHA256' is not verified here" in (unsupported.reason or "")
    assert "ECDSA-brainpool384r1-SHA256" in (unsupported.reason or "")
    other = ocmf.verify("EDL40 something signed", der(key))
    assert (other.valid, other.reason) == (None, "not OCMF: only OCMF signatures are verified")


def test_a_broken_record_is_false_with_its_reason(key):
    assert ocmf.verify("OCMF|{}", der(key)).valid is False
    bad_sd = ocmf.verify('OCMF|{"RD":[]}|{"SD":"zz"}', der(key))
    assert (bad_sd.valid, bad_sd.reason) == (False, "SD is not hex")


def test_keys_load_from_pem_hex_or_base64_and_nothing_else(key):
    pem = ocmf.load_public_key(fixtures.public_pem(key))
    assert ocmf.load_public_key(fixtures.public_hex(key)) == pem
    assert ocmf.load_public_key(base64.b64encode(pem).decode()) == pem
    for bad, said in (("hello", "not PEM"), ("00ff", "not a public key")):
        with pytest.raises(ValueError, match=said):
            ocmf.load_public_key(bad)
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    pem_other = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="not an elliptic-curve key"):
        ocmf.load_public_key(pem_other.decode())


def test_1_6_and_2_0_1_sample_sets_keep_signed_values_as_sent(settings, key):
    contract = mapping.Contract.of(settings, clock=lambda: AT)
    record = fixtures.record(key, fixtures.payload(("E", "12.345")))
    v16 = mapping.meter_values(
        "CP:1",
        [
            {
                "timestamp": "2026-12-07T09:59:00Z",
                "sampled_value": [
                    {"value": "12345", "context": "Transaction.End"},
                    {"value": record, "format": "SignedData", "context": "Transaction.End"},
                ],
            }
        ],
        contract,
        v201=False,
        transaction="42",
    )
    [kept] = v16.signed
    assert (kept.signed_data, kept.context, kept.transaction_id) == (
        record,
        "Transaction.End",
        "42",
    )
    assert kept.unsigned_kwh == Decimal("12.345")
    assert len(v16.records) == 1  # the unsigned value is still the reading

    wrapped = fixtures.as_base64(record)
    signed_value = {
        "signed_meter_data": wrapped,
        "signing_method": "",
        "encoding_method": "OCMF",
        "public_key": "",
    }
    v201 = mapping.meter_values(
        "CP:2",
        [
            {
                "timestamp": "2026-12-07T09:59:00Z",
                "sampled_value": [{"value": 12345, "signed_meter_value": signed_value}],
            }
        ],
        contract,
        v201=True,
        transaction="T-9",
    )
    [kept] = v201.signed
    assert (kept.signed_data, kept.encoding_method, kept.context) == (
        wrapped,
        "OCMF",
        "Sample.Periodic",
    )
    assert kept.unsigned_kwh == Decimal("12.345")
    assert len(v201.records) == 1

    refused = mapping.meter_values(
        "CP:1",
        [
            {
                "timestamp": "2026-12-07T09:59:00Z",
                "sampled_value": [{"value": 5, "format": "SignedData"}],
            }
        ],
        contract,
        v201=False,
    )
    assert refused.signed == []
    assert "not a signed value" in refused.refused[0][1]


def test_kept_once_and_judged_when_read_with_the_mismatch_flagged(clean_db, key):
    honest = fixtures.record(key, fixtures.payload(("E", "12.345")))
    lying = fixtures.record(key, fixtures.payload(("E", "99.000")))
    values = [
        signed.SignedValue("CP:1", AT, "Transaction.End", mapping.REGISTER, "7", honest,
                           unsigned_kwh=Decimal("12.345")),
        signed.SignedValue("CP:1", AT, "Sample.Periodic", mapping.REGISTER, "7", lying,
                           unsigned_kwh=Decimal("12.345")),
    ]  # fmt: skip
    with clean_db.begin() as conn:
        assert signed.keep(conn, values) == 2
        assert signed.keep(conn, values) == 0  # a resend
        rows = signed.of_transactions(conn, [("CP:1", "7")])[("CP:1", "7")]
        assert [signed.judge([r], {})[0].verdict.valid for r in rows] == [None, None]
        signed.set_key(conn, "CP", der(key))  # the charger's key holds for its connectors
        keys = signed.keys_for(conn, {"CP:1"})
        judged = signed.judge(rows, keys)
        count = conn.execute(text("SELECT count(*) FROM charger_signed_values")).scalar()
    assert count == 2
    assert [(j.verdict.valid, j.signed_kwh, j.matches_unsigned) for j in judged] == [
        (True, Decimal("12.345"), True),
        (True, Decimal("99.000"), False),
    ]

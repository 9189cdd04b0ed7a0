"""How the contract grows: a reading with a field this version does not know is rejected unless
the device says `Unknown-Fields: ignore`; then the field is dropped, counted and named, and the
reading is judged on the rest (real Redis)."""

from __future__ import annotations

import orjson
from prometheus_client import REGISTRY

from tests.support.constants import DEVICE_TOKEN
from tests.support.factories import meter, vehicle

IGNORE = {"Unknown-Fields": "ignore"}


def post(client, body, headers=None):
    return client.post(
        "/v1/ingest",
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {DEVICE_TOKEN}", **(headers or {})},
        content_type="application/json",
    )


def queued(stream) -> list:
    return [r for e in stream.read_new("test-reader", 1_000_000) for r in e.records]


def ignored_so_far() -> float:
    return REGISTRY.get_sample_value("ev_ingest_fields_ignored_total") or 0.0


def test_by_default_an_unknown_field_rejects_its_reading(client, stream):
    reply = post(client, [meter("M1", chargerTemp=41.5), meter("M2")])
    assert reply.status_code == 202
    assert reply.json["rejected"] == [{"index": 0, "errors": {"chargerTemp": ["Unknown field."]}}]
    assert "ignoredFields" not in reply.json
    assert [r[2] for r in queued(stream)] == ["M2"]


def test_newer_firmware_asking_to_ignore_loses_no_reading(client, stream):
    before = ignored_so_far()
    body = [
        meter("M1", chargerTemp=41.5, firmware="2.1"),
        vehicle("V1", "M1", cellDelta=0.01),
        meter("M2"),
        # A field of the other kind is no unknown field: still an error.
        meter("M3", soc=50),
    ]
    reply = post(client, body, headers=IGNORE)
    assert reply.status_code == 202
    assert reply.json["accepted"] == 3
    assert reply.json["ignoredFields"] == {
        "count": 3,
        "names": ["cellDelta", "chargerTemp", "firmware"],
    }
    assert [r["index"] for r in reply.json["rejected"]] == [3]
    stored = queued(stream)
    assert [r[2] for r in stored] == ["M1", "V1", "M2"]
    assert ignored_so_far() - before == 3
    assert post(client, meter("M1")).status_code == 202
    assert queued(stream) == [stored[0]], "queued as if sent without the unknown fields"
    # Invalid known fields are still refused: ignoring is for unknown names only.
    bad = post(client, meter("M4", kwhConsumedAc=-1, extra=1), headers=IGNORE)
    assert bad.status_code == 422
    assert bad.json["ignoredFields"]["names"] == ["extra"]
    assert "kwhConsumedAc" in bad.json["rejected"][0]["errors"]


def test_an_unknown_policy_is_a_clear_400(client, stream):
    reply = post(client, meter("M1"), headers={"Unknown-Fields": "drop"})
    assert reply.status_code == 400
    assert reply.json["error"] == "invalid_header"
    assert "'reject' (the default) or 'ignore'" in reply.json["message"]
    assert queued(stream) == []

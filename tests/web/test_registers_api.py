"""Register readings through the API (docs/DESIGN.md, "Registers"): what ingest accepts and
refuses, that a register reaches the stream and history exactly, and how history, CSV and
current state show it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import orjson
import pytest

from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN
from tests.support.factories import T0, meter, vehicle

DEVICE = {"Authorization": f"Bearer {DEVICE_TOKEN}"}
ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
ALL = {"from": (T0 - timedelta(days=1)).isoformat(), "to": (T0 + timedelta(days=1)).isoformat()}
# 18 significant digits: more than a float holds.
LARGE = b"123456789012.123456"


def register_meter(at: str, register: bytes, voltage: bytes | None = None) -> bytes:
    """A meter reading's JSON with the register written digit for digit."""
    extra = b', "voltage": ' + voltage if voltage else b""
    return (
        (b'{"meterId": "M1", "timestamp": "' + at.encode() + b'", "kwhRegisterAc": ' + register)
        + extra
        + b"}"
    )


def post(client, data: bytes):
    return client.post("/v1/ingest", data=data, headers=DEVICE, content_type="application/json")


def queued(stream) -> list:
    return [r for e in stream.read_new("test-reader", 1000) for r in e.records]


def test_a_register_reading_reaches_the_stream_digit_for_digit(client, stream):
    reply = post(client, register_meter("2026-11-27T10:00:00Z", LARGE))
    assert reply.status_code == 202, reply.json
    assert queued(stream) == [
        ["m", "2026-11-27T10:00:00+00:00", "M1", None, None, "123456789012.123456"]
    ]


def test_registers_are_rounded_half_up_to_the_places_kept(client, stream):
    body = b"[" + register_meter("2026-11-27T10:00:00Z", b"1.0000005", b"230") + b"]"
    assert post(client, body).status_code == 202
    assert queued(stream)[0][-2:] == [230.0, "1.000001"]


@pytest.mark.parametrize(
    ("item", "field", "says"),
    [
        (meter(kwhRegisterAc=5), "kwhRegisterAc", "not both"),
        (vehicle(kwhRegisterDc=5), "kwhRegisterDc", "not both"),
        ({**meter(kwhRegisterAc=-1), "kwhConsumedAc": None}, "kwhConsumedAc", "Field may not"),
        ({"meterId": "M1", "timestamp": "2026-11-27T10:00:00Z", "kwhRegisterAc": -0.5},
         "kwhRegisterAc", "at least 0"),
        ({"meterId": "M1", "timestamp": "2026-11-27T10:00:00Z", "kwhRegisterAc": 1e12},
         "kwhRegisterAc", "below 1,000,000,000,000"),
        ({"meterId": "M1", "timestamp": "2026-11-27T10:00:00Z", "kwhRegisterAc": "5"},
         "kwhRegisterAc", "Not a number"),
    ],
)  # fmt: skip
def test_a_wrong_register_reading_is_refused_saying_why(client, stream, item, field, says):
    reply = post(client, orjson.dumps([item, meter("M2")]))
    assert reply.status_code == 202
    assert reply.json["accepted"] == 1
    [rejection] = reply.json["rejected"]
    assert says in rejection["errors"][field][0]
    assert [r[2] for r in queued(stream)] == ["M2"]


def test_an_interval_meter_reading_still_needs_its_voltage(client):
    item = meter()
    del item["voltage"]
    reply = post(client, orjson.dumps(item))
    assert reply.status_code == 422
    assert reply.json["rejected"][0]["errors"] == {"voltage": ["Missing data for required field."]}


def test_nan_in_a_register_body_is_malformed_json_not_a_reading(client, stream):
    reply = post(client, b'{"meterId": "M1", "kwhRegisterAc": NaN}')
    assert reply.status_code == 400
    assert reply.json["error"] == "malformed_json"


def test_history_current_state_and_csv_show_the_register_and_its_interval(client, stream, clean_db):
    body = (
        b"["
        + b", ".join(
            register_meter((T0 + timedelta(seconds=60 * i)).isoformat(), value)
            for i, value in enumerate([LARGE, b"123456789013.123456", b"0.5"])
        )
        + b"]"
    )
    assert post(client, body).status_code == 202
    with clean_db.begin() as conn:
        write_batch(conn, queued(stream))

    page = client.get("/v1/meters/M1/readings", query_string=ALL, headers=ANALYST)
    assert page.status_code == 200
    # JSON numbers written digit for digit, not through a float.
    assert b'"kwhRegisterAc":123456789012.123456' in page.data
    readings = page.json["readings"]
    assert [r["kwhConsumedAc"] for r in readings] == [None, 1.0, 0.5]  # first, steady, reset
    assert all(r["voltage"] is None for r in readings)

    state = client.get("/v1/meters/M1", headers=ANALYST)
    assert state.json["kwhRegisterAc"] == 0.5
    assert state.json["kwhConsumedAc"] == 0.5

    exported = client.get(
        "/v1/meters/M1/readings", query_string=ALL, headers={**ANALYST, "Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [r["kwhRegisterAc"] for r in rows] == [
        "123456789012.123456",
        "123456789013.123456",
        "0.5",
    ]
    assert [r["kwhConsumedAc"] for r in rows] == ["", "1.0", "0.5"]

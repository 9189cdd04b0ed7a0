"""OCPP frames forwarded over HTTP (POST /v1/ocpp/<version>/<chargePointId>) on real Redis and
PostgreSQL: each action's answer, what reaches the stream, the transactions kept, and what is
refused. The WebSocket server runs the same handlers (tests/e2e/test_ocpp.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from devices import transactions
from tests.support.constants import DEVICE_TOKEN
from tests.support.credentials import issue
from web.contract.responses import json_default

GATEWAY = {"Authorization": f"Bearer {DEVICE_TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def iso(minutes: float = 0) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def call(client, version: str, action: str, payload: dict, cp: str = "CP1", headers=None):
    frame = [2, f"id-{action}", action, payload]
    reply = client.post(
        f"/v1/ocpp/{version}/{cp}",
        data=orjson.dumps(frame, default=json_default),  # a Decimal as a JSON number, exactly
        headers=headers or GATEWAY,
        content_type="application/json",
    )
    return reply


def answer(reply) -> list:
    assert reply.status_code == 200, reply.data
    return orjson.loads(reply.data)


def queued(stream) -> list:
    return [r for e in stream.read_new("test-reader", 1000) for r in e.records]


def test_boot_heartbeat_status_and_authorize_are_answered_as_a_monitoring_system(client):
    boot = answer(
        call(client, "1.6", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    )
    assert boot[0] == 3
    assert boot[2]["status"] == "Accepted"
    assert boot[2]["interval"] == 300
    assert answer(call(client, "1.6", "Heartbeat", {}))[2]["currentTime"]
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
    assert answer(call(client, "1.6", "StatusNotification", status)) == [
        3,
        "id-StatusNotification",
        {},
    ]
    assert answer(call(client, "1.6", "Authorize", {"idTag": "TAG"}))[2] == {
        "idTagInfo": {"status": "Accepted"}
    }
    assert answer(call(client, "1.6", "DataTransfer", {"vendorId": "acme"}))[2] == {
        "status": "UnknownVendorId"
    }


def test_an_action_we_do_not_take_is_not_implemented(client):
    reply = answer(call(client, "1.6", "FirmwareStatusNotification", {"status": "Idle"}))
    assert reply[0] == 4
    assert reply[2] == "NotImplemented"


def test_a_1_6_transaction_stores_its_registers_and_is_kept(client, stream, clean_db):
    start = {"connectorId": 1, "idTag": "TAG", "meterStart": 1_000_000, "timestamp": iso(0)}
    started = answer(call(client, "1.6", "StartTransaction", start))
    transaction = started[2]["transactionId"]
    assert started[2]["idTagInfo"] == {"status": "Accepted"}
    # A resend (no answer reached the charger) gets the same transaction.
    assert answer(call(client, "1.6", "StartTransaction", start))[2]["transactionId"] == transaction

    values = {
        "connectorId": 1,
        "transactionId": transaction,
        "meterValue": [
            {
                "timestamp": iso(1),
                "sampledValue": [
                    # Per phase only, in Wh, under two contexts: one reading, the phases summed.
                    {
                        "value": "333500.25",
                        "measurand": "Energy.Active.Import.Register",
                        "phase": "L1",
                    },
                    {
                        "value": "333500.25",
                        "measurand": "Energy.Active.Import.Register",
                        "phase": "L2",
                    },
                    {
                        "value": "333500.5",
                        "measurand": "Energy.Active.Import.Register",
                        "phase": "L3",
                    },
                    {"value": "333500.25", "phase": "L1", "context": "Transaction.Begin"},
                    {"value": "231.5", "measurand": "Voltage", "phase": "L1-N"},
                    {"value": "228.5", "measurand": "Voltage", "phase": "L2-N"},
                    {"value": "230", "measurand": "Voltage", "phase": "L3-N"},
                ],
            },
            {"timestamp": iso(2), "sampledValue": [{"value": "1001.5", "unit": "kWh"}]},
        ],
    }
    assert answer(call(client, "1.6", "MeterValues", values)) == [3, "id-MeterValues", {}]
    stop = {
        "transactionId": transaction,
        "meterStop": 1_002_000,
        "timestamp": iso(3),
        "reason": "EVDisconnected",
    }
    assert answer(call(client, "1.6", "StopTransaction", stop))[2] == {
        "idTagInfo": {"status": "Accepted"}
    }

    records = queued(stream)
    at = [iso(m).replace("Z", "+00:00") for m in range(4)]
    assert records == [
        ["m", at[0], "CP1:1", None, None, "1000.000000"],
        ["m", at[0], "CP1:1", None, None, "1000.000000"],
        ["m", at[1], "CP1:1", None, 230.0, "1000.501000"],
        ["m", at[2], "CP1:1", None, None, "1001.500000"],
        ["m", at[3], "CP1:1", None, None, "1002.000000"],
    ]
    with clean_db.connect() as conn:
        [kept] = transactions.listing(conn, "CP1")
    assert kept["id"] == transaction
    assert (kept["connector_id"], kept["id_tag"], kept["stop_reason"]) == (
        1,
        "TAG",
        "EVDisconnected",
    )
    assert (kept["meter_start_kwh"], kept["meter_stop_kwh"]) == (Decimal(1000), Decimal(1002))
    assert kept["stopped_at"] == NOW + timedelta(minutes=3)


def test_a_2_0_1_transaction_keeps_every_digit_of_its_register(client, stream, clean_db):
    event = {
        "eventType": "Started",
        "timestamp": iso(0),
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-9"},
        "evse": {"id": 2, "connectorId": 1},
        "idToken": {"idToken": "TAG", "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": iso(0),
                "sampledValue": [
                    # 18 significant digits: more than a float holds.
                    {
                        "value": Decimal("123456789012.345678"),
                        "unitOfMeasure": {"unit": "kWh"},
                        "location": "Outlet",
                    },
                    {"value": 9, "unitOfMeasure": {"unit": "kWh"}, "location": "EV"},
                ],
            }
        ],
    }
    started = answer(call(client, "2.0.1", "TransactionEvent", event))
    assert started[2] == {"idTokenInfo": {"status": "Accepted"}}
    ended = {
        **event,
        "eventType": "Ended",
        "timestamp": iso(1),
        "seqNo": 1,
        "transactionInfo": {"transactionId": "tx-9", "stoppedReason": "Local"},
        "meterValue": [
            {
                "timestamp": iso(1),
                # Wh with a multiplier of 3: kWh.
                "sampledValue": [
                    {
                        "value": Decimal("123456789013.5"),
                        "unitOfMeasure": {"unit": "Wh", "multiplier": 3},
                    }
                ],
            }
        ],
    }
    del ended["evse"], ended["idToken"]  # only the first event must name the EVSE
    assert answer(call(client, "2.0.1", "TransactionEvent", ended))[2] == {}

    registers = [r[-1] for r in queued(stream)]
    assert registers == ["123456789012.345678", "123456789013.500000"]
    with clean_db.connect() as conn:
        [kept] = transactions.listing(conn, "CP1")
    assert (kept["ref"], kept["connector_id"], kept["stop_reason"]) == ("tx-9", 2, "Local")
    assert kept["meter_start_kwh"] == Decimal("123456789012.345678")
    assert kept["meter_stop_kwh"] == Decimal("123456789013.5")


def test_2_0_1_meter_values_name_the_evse_as_the_meter(client, stream):
    values = {"evseId": 0, "meterValue": [{"timestamp": iso(0), "sampledValue": [{"value": 5000}]}]}
    assert answer(call(client, "2.0.1", "MeterValues", values))[0] == 3
    assert queued(stream) == [["m", iso(0).replace("Z", "+00:00"), "CP1", None, None, "5.000000"]]


@pytest.mark.parametrize(
    ("sampled", "why"),
    [
        ({"value": "-5"}, "kwhRegisterAc: Must be at least 0"),
        ({"value": "12", "unit": "kW"}, "neither Wh nor kWh"),
        ({"value": "1e999999999"}, "out of any meter's range"),  # past Decimal's exponents
        ({"value": "1_000"}, "not a number"),
    ],
)
def test_refused_values_are_logged_and_the_others_confirmed(client, stream, caplog, sampled, why):
    values = {
        "connectorId": 1,
        "meterValue": [
            {"timestamp": iso(0), "sampledValue": [sampled]},
            {"timestamp": iso(1), "sampledValue": [{"value": "1000"}]},
        ],
    }
    # A resend cannot mend a refused value: the message is confirmed, the good value kept.
    assert answer(call(client, "1.6", "MeterValues", values))[0] == 3
    assert [r[-1] for r in queued(stream)] == ["1.000000"]
    [line] = [r.getMessage() for r in caplog.records if "ocpp_values_refused" in r.getMessage()]
    assert "charger=CP1" in line
    assert why in line


def test_a_2_0_1_multiplier_past_any_meter_is_refused_and_the_rest_kept(client, stream):
    huge = {"value": 5, "unitOfMeasure": {"unit": "Wh", "multiplier": 1_000_000}}
    values = {
        "evseId": 1,
        "meterValue": [
            {"timestamp": iso(0), "sampledValue": [huge]},
            {"timestamp": iso(1), "sampledValue": [{"value": 2000}]},
        ],
    }
    assert answer(call(client, "2.0.1", "MeterValues", values))[0] == 3
    assert [r[-1] for r in queued(stream)] == ["2.000000"]


def test_a_stop_with_a_refused_sample_still_ends_its_transaction(client, stream, clean_db):
    start = {"connectorId": 1, "idTag": "TAG", "meterStart": 1000, "timestamp": iso(0)}
    transaction = answer(call(client, "1.6", "StartTransaction", start))[2]["transactionId"]
    stop = {
        "transactionId": transaction,
        "meterStop": 3000,
        "timestamp": iso(2),
        "transactionData": [
            {"timestamp": "1970-01-01T00:00:10Z", "sampledValue": [{"value": "1500"}]},
            {"timestamp": iso(1), "sampledValue": [{"value": "2000"}]},
        ],
    }
    for _ in range(2):  # and its resend, answered the same
        assert answer(call(client, "1.6", "StopTransaction", stop))[0] == 3
    with clean_db.connect() as conn:
        [kept] = transactions.listing(conn, "CP1")
    assert kept["stopped_at"] == NOW + timedelta(minutes=2)
    assert kept["meter_stop_kwh"] == Decimal(3)
    registers = [r[-1] for r in queued(stream)]
    assert registers == ["1.000000", "2.000000", "3.000000", "2.000000", "3.000000"]


def test_a_2_0_1_end_with_a_negative_value_still_ends_its_transaction(client, stream, clean_db):
    def event(kind: str, minutes: int, *values: int) -> dict:
        return {
            "eventType": kind,
            "timestamp": iso(minutes),
            "triggerReason": "MeterValuePeriodic",
            "seqNo": minutes,
            "transactionInfo": {"transactionId": "T-9"},
            "evse": {"id": 1},
            "meterValue": [
                {"timestamp": iso(minutes), "sampledValue": [{"value": v}]} for v in values
            ],
        }

    assert answer(call(client, "2.0.1", "TransactionEvent", event("Started", 0, 1000)))[0] == 3
    ended = event("Ended", 2, 3000)
    ended["meterValue"].insert(0, {"timestamp": iso(1), "sampledValue": [{"value": -1}]})
    assert answer(call(client, "2.0.1", "TransactionEvent", ended))[0] == 3
    with clean_db.connect() as conn:
        [kept] = transactions.listing(conn, "CP1")
    assert kept["stopped_at"] == NOW + timedelta(minutes=2)
    assert (kept["meter_start_kwh"], kept["meter_stop_kwh"]) == (Decimal(1), Decimal(3))


def test_a_start_by_a_clock_in_1970_is_recorded_without_its_reading(client, stream, clean_db):
    start = {"connectorId": 1, "idTag": "T", "meterStart": 5, "timestamp": "1970-01-01T00:00:10Z"}
    reply = answer(call(client, "1.6", "StartTransaction", start))
    assert reply[0] == 3
    assert queued(stream) == []  # the reading is older than the retention: refused
    with clean_db.connect() as conn:
        [kept] = transactions.listing(conn, "CP1")
    assert kept["id"] == reply[2]["transactionId"]
    assert kept["meter_start_kwh"] is None


@pytest.mark.parametrize("connector", [1000, 2147483648])
def test_a_connector_no_charger_has_refuses_the_message_before_anything_is_queued(
    client, stream, clean_db, connector
):
    start = {"connectorId": connector, "idTag": "T", "meterStart": 5, "timestamp": iso(0)}
    reply = answer(call(client, "1.6", "StartTransaction", start))
    assert reply[:3] == [4, "id-StartTransaction", "PropertyConstraintViolation"]
    assert "numbered 0 to 999" in reply[3]
    values = {"connectorId": connector, "meterValue": [
        {"timestamp": iso(0), "sampledValue": [{"value": "1"}]}]}  # fmt: skip
    assert answer(call(client, "1.6", "MeterValues", values))[2] == "PropertyConstraintViolation"
    assert queued(stream) == []
    with clean_db.connect() as conn:
        assert transactions.listing(conn, "CP1") == []


def test_a_charger_token_speaks_for_its_own_charger_only(app, client, stream, clean_db):
    token = issue(app, "charger", "CP7")
    own = {"Authorization": f"Bearer {token}"}
    assert answer(call(client, "1.6", "Heartbeat", {}, cp="CP7", headers=own))[0] == 3
    assert call(client, "1.6", "Heartbeat", {}, cp="CP8", headers=own).status_code == 403
    # A meter's token (a meter outside CP7's namespace: none may be inside) speaks for none.
    meter = {"Authorization": f"Bearer {issue(app, 'meter', 'M7')}"}
    assert call(client, "1.6", "Heartbeat", {}, cp="CP7", headers=meter).status_code == 403
    # Through JSON ingest a charger's token writes its connectors' meters, and nothing else.
    body = [
        {"meterId": "CP7:2", "kwhRegisterAc": 5, "timestamp": iso(0)},
        {"meterId": "CP70", "kwhRegisterAc": 5, "timestamp": iso(0)},
    ]
    reply = client.post(
        "/v1/ingest", data=orjson.dumps(body), headers=own, content_type="application/json"
    )
    assert reply.status_code == 202
    assert [r["index"] for r in reply.json["rejected"]] == [1]
    assert [r[2] for r in queued(stream)] == ["CP7:2"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/ocpp/1.5/CP1", [2, "a", "Heartbeat", {}], 404, "unknown_ocpp_version"),
        ("/v1/ocpp/1.6/C%20P", [2, "a", "Heartbeat", {}], 400, "invalid_id"),
        ("/v1/ocpp/1.6/CP1", [3, "a", {}], 400, "not_a_call"),
        ("/v1/ocpp/1.6/CP1", {"action": "Heartbeat"}, 400, "not_a_call"),
    ],
)
def test_what_is_not_a_call_frame_is_a_clear_error(client, path, body, status, code):
    reply = client.post(
        path, data=orjson.dumps(body), headers=GATEWAY, content_type="application/json"
    )
    assert reply.status_code == status
    assert reply.json["error"] == code


@pytest.mark.parametrize(
    ("version", "code"), [("1.6", "FormationViolation"), ("2.0.1", "RpcFrameworkError")]
)
@pytest.mark.parametrize(
    "frame",
    [
        [2, "u1", ["MeterValues"], {}],
        [2, "u1", {"action": "MeterValues"}, {}],
        [2, "u1", "Heartbeat", []],
    ],
)
def test_a_call_frame_of_the_wrong_shape_is_a_callerror_not_a_5xx(client, version, code, frame):
    reply = answer(
        client.post(
            f"/v1/ocpp/{version}/CP1",
            data=orjson.dumps(frame),
            headers=GATEWAY,
            content_type="application/json",
        )
    )
    assert reply[:3] == [4, "u1", code]


def test_a_malformed_payload_is_a_callerror_from_the_library(client):
    reply = answer(call(client, "1.6", "StartTransaction", {"connectorId": "one"}))
    assert reply[0] == 4
    assert reply[2] in (
        "FormationViolation",
        "FormatViolation",
        "TypeConstraintViolation",
        "ProtocolError",
    )


def test_redis_down_means_no_confirmation(app, client, monkeypatch):
    from redis.exceptions import ConnectionError as RedisDown

    from web.services import services

    def down(*args, **kwargs):
        raise RedisDown("Redis is down")

    monkeypatch.setattr(services(app).stream, "add", down)
    values = {
        "connectorId": 1,
        "meterValue": [{"timestamp": iso(0), "sampledValue": [{"value": "1"}]}],
    }
    reply = answer(call(client, "1.6", "MeterValues", values))
    assert reply[0] == 4
    assert reply[2] == "InternalError"
    assert "send the message again" in reply[3]

"""Chargers over OCPP-J through the real processes (the Procfile's web, worker and ocpp): a
charger simulated with the `ocpp` package's own ChargePoint client, 1.6J and 2.0.1, its vehicle
posting DC registers naming the charger's connector, and the efficiency the API serves equal to
the register rule's on the same readings."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201
from sqlalchemy import text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from devices import transactions
from efficiency.reference import efficiency
from tests.support import ocmf as ocmf_fixtures
from tests.support.chargers import basic, session, start_chargers
from tests.support.constants import DEVICE_TOKEN
from tests.support.factories import meter_reg, vehicle_reg
from tests.support.helpers import stored_readings, wait_until

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def iso(seconds: float) -> str:
    return at(seconds).isoformat().replace("+00:00", "Z")


@pytest.fixture
def chargers(service) -> str:
    """web, worker and ocpp running; the ocpp process's ws:// base URL."""
    return start_chargers(service)


def sampled(value: str, **extra) -> dict:
    return {"value": value, **extra}


def test_a_1_6_charger_and_its_vehicle_give_the_register_rules_efficiency(
    service, chargers, clean_db
):
    async def script(cp):
        boot = await cp.call(
            call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        assert boot.status == "Accepted"
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=10_000_000, timestamp=iso(0)
            )
        )
        values = [
            # Wh, per phase only (summed), under two contexts at one timestamp (one reading).
            (30, [sampled("3333500", phase=p) for p in ("L1", "L2", "L3")]
                 + [sampled("3333500", phase="L1", context="Transaction.Begin")]),
            (60, [sampled("10001.5", unit="kWh")]),  # kWh
            (90, [sampled("10002000")]),
            (120, [sampled("0")]),  # a glitch to 0 ...
            (150, [sampled("10003000")]),  # ... the register goes on from before it
            (180, [sampled("500")]),  # a reset: the counter restarted
            (210, [sampled("1500")]),
        ]  # fmt: skip
        for seconds, samples in values:
            message = call16.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[{"timestamp": iso(seconds), "sampledValue": samples}],
            )
            await cp.call(message)
            if seconds == 90:
                await cp.call(message)  # a resend: stored once
        await cp.call(
            call16.StopTransaction(
                meter_stop=2500, timestamp=iso(240), transaction_id=started.transaction_id
            )
        )
        return started.transaction_id

    transaction = asyncio.run(session(chargers, "CP1", "ocpp1.6", Client16, script))

    # The vehicle charging there posts its battery register, naming the connector's meter.
    dc = [(5, "100"), (35, "100.9"), (65, "101.8"), (95, "102.7"), (125, "103.6"),
          (155, "104.5"), (185, "105.4"), (215, "106.3"), (245, "107.2")]  # fmt: skip
    body = [
        {"vehicleId": "V1", "meterId": "CP1:1", "kwhRegisterDc": Decimal(r), "soc": 50,
         "batteryTemp": 30, "timestamp": iso(s)}
        for s, r in dc
    ]  # fmt: skip
    from web.contract.responses import json_default

    reply = service.post(orjson.loads(orjson.dumps(body, default=json_default)))
    assert reply.status == 202

    meters = [(0, "10000"), (30, "10000.5"), (60, "10001.5"), (90, "10002"), (120, "0"),
              (150, "10003"), (180, "0.5"), (210, "1.5"), (240, "2.5")]  # fmt: skip
    expected_records = [meter_reg("CP1:1", at(s), r) for s, r in meters] + [
        vehicle_reg("V1", "CP1:1", at(s), r, 50, 30) for s, r in dc
    ]
    wait_until(lambda: stored_readings(clean_db) == len(expected_records), what="all stored")
    with clean_db.connect() as conn:
        stored = conn.execute(
            text("SELECT recorded_at, kwh_register_ac FROM meter_readings ORDER BY 1")
        ).all()
        [kept] = transactions.listing(conn, "CP1")
    assert [(r[0], r[1]) for r in stored] == [(at(s), Decimal(r)) for s, r in meters]
    assert kept["id"] == transaction
    assert kept["meter_stop_kwh"] == Decimal("2.5")

    as_of = at(300)
    out = service.flask("refresh-performance", "--as-of", as_of.isoformat())
    assert out.returncode == 0, out.stderr
    served = orjson.loads(service.get("/v1/analytics/performance/V1").data)
    want = efficiency(expected_records, as_of)["V1"]
    for field in ("totalAcConsumedKwh", "totalDcDeliveredKwh", "chargingEfficiency"):
        assert served[field] == pytest.approx(want[field], abs=1e-9), field


def test_a_2_0_1_charger_reports_a_transaction(service, chargers, clean_db):
    async def script(cp):
        boot = await cp.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        for seq, (event, seconds, wh) in enumerate(
            [("Started", 0, 5000), ("Updated", 60, 6000), ("Ended", 120, 7000)]
        ):
            await cp.call(
                call201.TransactionEvent(
                    event_type=event,
                    timestamp=iso(seconds),
                    trigger_reason="MeterValuePeriodic",
                    seq_no=seq,
                    transaction_info={"transaction_id": "T-1"},
                    evse={"id": 1, "connector_id": 1} if event == "Started" else None,
                    meter_value=[{"timestamp": iso(seconds), "sampled_value": [{"value": wh}]}],
                )
            )

    asyncio.run(session(chargers, "CP2", "ocpp2.0.1", Client201, script))
    wait_until(lambda: stored_readings(clean_db) == 3, what="the three registers stored")
    with clean_db.connect() as conn:
        [kept] = transactions.listing(conn, "CP2")
        registers = conn.execute(
            text("SELECT kwh_register_ac FROM meter_readings WHERE meter_id = 'CP2:1' ORDER BY 1")
        ).scalars()
        assert list(registers) == [Decimal(5), Decimal(6), Decimal(7)]
    assert (kept["ref"], kept["meter_start_kwh"], kept["meter_stop_kwh"]) == (
        "T-1",
        Decimal(5),
        Decimal(7),
    )


def test_a_disconnect_before_the_confirmation_then_the_resend_stores_once(
    service, chargers, clean_db
):
    message = call16.MeterValues(
        connector_id=0, meter_value=[{"timestamp": iso(0), "sampledValue": [sampled("1000")]}]
    )

    async def unconfirmed(cp):
        # Sent, and the connection dropped before the answer is read.
        await cp._send(orjson.dumps([2, "m-1", "MeterValues", {"connectorId": 0, "meterValue": [
            {"timestamp": iso(0), "sampledValue": [sampled("1000")]}]}]).decode())  # fmt: skip

    async def resend(cp):
        await cp.call(message)

    asyncio.run(session(chargers, "CP3", "ocpp1.6", Client16, unconfirmed))
    asyncio.run(session(chargers, "CP3", "ocpp1.6", Client16, resend))
    wait_until(lambda: stored_readings(clean_db) >= 1, what="the reading stored")
    with clean_db.connect() as conn:
        rows = conn.execute(text("SELECT meter_id, kwh_register_ac FROM meter_readings")).all()
    assert rows == [("CP3", Decimal(1))]


def test_wrong_credentials_or_subprotocol_are_refused_at_the_upgrade(chargers):
    async def attempt(cp: str, password: str, protocol: str) -> int:
        try:
            async with connect(
                f"{chargers}/{cp}",
                subprotocols=[Subprotocol(protocol)],
                additional_headers=basic(cp, password),
            ):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt("CP4", "not-the-token", "ocpp1.6")) == 401
    assert asyncio.run(attempt("CP4", DEVICE_TOKEN, "ocpp1.5")) == 400
    assert asyncio.run(attempt("CP4", DEVICE_TOKEN, "ocpp2.0.1")) == 101
    # No charger may have these IDs: one with ':' (its Basic user would end there), one whose
    # connectors' meters would pass the 64 characters of a meter ID.
    assert asyncio.run(attempt("CP:4", DEVICE_TOKEN, "ocpp1.6")) == 404
    assert asyncio.run(attempt("C" * 61, DEVICE_TOKEN, "ocpp1.6")) == 404


@pytest.fixture
def short_token_cache(service) -> None:
    """Processes started after this re-check a token every second."""
    service.env["DEVICE_TOKEN_CACHE_SECONDS"] = "1"


@pytest.mark.parametrize("how", ["revoke", "rotate"])
def test_a_revoked_or_rotated_charger_token_stops_writing_on_a_connection_opened_before(
    service, short_token_cache, chargers, clean_db, how
):
    token = service.flask("devices", "add", "charger", "CP-REV").stdout.strip()

    def values(unique_id: str, seconds: float, wh: str) -> str:
        payload = {"connectorId": 1, "meterValue": [
            {"timestamp": iso(seconds), "sampledValue": [sampled(wh)]}]}  # fmt: skip
        return orjson.dumps([2, unique_id, "MeterValues", payload]).decode()

    async def script() -> int | None:
        async with connect(
            f"{chargers}/CP-REV",
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=basic("CP-REV", token),
        ) as ws:
            await ws.send(values("before", 0, "1000"))
            assert orjson.loads(await ws.recv())[:2] == [3, "before"]  # the token is live
            service.flask("devices", how, "charger", "CP-REV")
            await asyncio.sleep(2)  # past DEVICE_TOKEN_CACHE_SECONDS
            await ws.send(values("after", 60, "2000"))
            try:
                answer = await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            raise AssertionError(f"answered {answer!r}")

    got = asyncio.run(script())
    assert got == 1008, "the connection is closed (policy violation), nothing confirmed"
    wait_until(lambda: stored_readings(clean_db) >= 1, what="the first reading stored")
    time.sleep(1)  # the worker would have stored the second by now
    with clean_db.connect() as conn:
        rows = conn.execute(text("SELECT recorded_at FROM meter_readings")).scalars().all()
    assert rows == [at(0)]


def test_refused_values_never_lose_a_stop_nor_the_good_values(service, chargers, clean_db):
    """Through the real process, raw frames: a stop whose data holds a 1970 sample, a 2.0.1 end
    with a negative value, a value past Decimal's range, and the values ingest refuses (0.004 V,
    7 fractional digits, '1_000') are each confirmed with the others stored; a connector no
    charger has is refused before anything is queued."""

    async def exchange(ws, frame: list) -> list:
        await ws.send(orjson.dumps(frame).decode())
        return orjson.loads(await asyncio.wait_for(ws.recv(), 30))

    def value(seconds: float, wh: str, **extra) -> dict:
        return {"timestamp": iso(seconds), "sampledValue": [sampled(wh, **extra)]}

    async def v16() -> None:
        async with connect(
            f"{chargers}/CP-V16", subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=basic("CP-V16", DEVICE_TOKEN),
        ) as ws:  # fmt: skip
            start = {"connectorId": 1, "idTag": "T", "meterStart": 5000, "timestamp": iso(0)}
            started = await exchange(ws, [2, "s", "StartTransaction", start])
            refused = [
                {"timestamp": "1970-01-01T00:00:10Z", "sampledValue": [sampled("5050")]},
                value(20, "1e999999999"),
                value(30, "1_000"),
                {"timestamp": iso(40).replace("Z", ".1234567Z"), "sampledValue": [sampled("1")]},
                {"timestamp": iso(50), "sampledValue": [
                    sampled("5080"), sampled("0.004", measurand="Voltage")]},
            ]  # fmt: skip
            stop = {
                "transactionId": started[2]["transactionId"], "meterStop": 5100,
                "timestamp": iso(60), "transactionData": [*refused, value(55, "5090")],
            }  # fmt: skip
            assert (await exchange(ws, [2, "e", "StopTransaction", stop]))[0] == 3
            huge = {"connectorId": 2147483648, "meterValue": [value(70, "1")]}
            answer = await exchange(ws, [2, "m", "MeterValues", huge])
            assert answer[:3] == [4, "m", "PropertyConstraintViolation"]

    async def v201() -> None:
        async with connect(
            f"{chargers}/CP-V201", subprotocols=[Subprotocol("ocpp2.0.1")],
            additional_headers=basic("CP-V201", DEVICE_TOKEN),
        ) as ws:  # fmt: skip

            def event(kind: str, seconds: int, *values: dict) -> list:
                return [2, kind, "TransactionEvent", {
                    "eventType": kind, "timestamp": iso(seconds), "seqNo": seconds,
                    "triggerReason": "MeterValuePeriodic",
                    "transactionInfo": {"transactionId": "X"},
                    "evse": {"id": 1}, "meterValue": list(values)}]  # fmt: skip

            def v(seconds: int, number: object) -> dict:
                return {"timestamp": iso(seconds), "sampledValue": [{"value": number}]}

            assert (await exchange(ws, event("Started", 0, v(0, 1000))))[0] == 3
            assert (await exchange(ws, event("Ended", 60, v(30, -1), v(60, 3000))))[0] == 3

    asyncio.run(v16())
    asyncio.run(v201())
    wait_until(lambda: stored_readings(clean_db) == 5, what="the good readings stored")
    with clean_db.connect() as conn:
        stored = conn.execute(
            text("SELECT meter_id, recorded_at, kwh_register_ac FROM meter_readings ORDER BY 1, 2")
        ).all()
        [v16_kept] = transactions.listing(conn, "CP-V16")
        [v201_kept] = transactions.listing(conn, "CP-V201")
    assert [(m, r) for m, _, r in stored] == [
        ("CP-V16:1", Decimal("5")), ("CP-V16:1", Decimal("5.09")), ("CP-V16:1", Decimal("5.1")),
        ("CP-V201:1", Decimal(1)), ("CP-V201:1", Decimal(3)),
    ]  # fmt: skip
    assert (v16_kept["stopped_at"], v16_kept["meter_stop_kwh"]) == (at(60), Decimal("5.1"))
    assert (v201_kept["stopped_at"], v201_kept["meter_stop_kwh"]) == (at(60), Decimal(3))
    assert "event=ocpp_values_refused charger=CP-V16 action=StopTransaction count=5" in (
        service.log("ocpp")
    )


def test_a_transactions_energy_across_a_register_reset_is_what_its_registers_counted(
    service, chargers, clean_db
):
    """meterStart 5000 Wh, values 5100 then 30 (the counter restarted), meterStop 90: the
    transaction counted 0.19 kWh, not stop minus start (-4.91)."""

    async def script(cp):
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=5000, timestamp=iso(0)
            )
        )
        for seconds, wh in ((30, "5100"), (60, "30")):
            await cp.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[{"timestamp": iso(seconds), "sampledValue": [sampled(wh)]}],
                )
            )
        await cp.call(
            call16.StopTransaction(
                meter_stop=90, timestamp=iso(90), transaction_id=started.transaction_id
            )
        )

    asyncio.run(session(chargers, "CP-RESET", "ocpp1.6", Client16, script))
    wait_until(lambda: stored_readings(clean_db) == 4, what="the four registers stored")
    window = f"from={iso(-60)}&to={iso(600)}"
    sessions = orjson.loads(service.get(f"/v1/meters/CP-RESET:1/sessions?{window}").data)
    [only] = sessions["sessions"]
    assert only["transactionEnergyKwh"] == pytest.approx(0.19)


def test_every_measurand_of_a_sample_set_is_served_back(service, chargers, clean_db):
    """Inlet and Outlet energy (the Inlet's is the reading), power in kW, SoC, temperature and
    per-phase current: each kept per phase and location and served by /samples."""

    async def script(cp):
        samples = [
            sampled("5000000", location="Inlet"),
            sampled("4900000", location="Outlet"),
            sampled("11.2", measurand="Power.Active.Import", unit="kW"),
            sampled("63", measurand="SoC", unit="Percent", location="EV"),
            sampled("31.5", measurand="Temperature", unit="Celsius", location="Body"),
            *(
                sampled(amps, measurand="Current.Import", unit="A", phase=phase)
                for phase, amps in (("L1", "16.1"), ("L2", "16.2"), ("L3", "16.3"))
            ),
        ]
        message = call16.MeterValues(
            connector_id=2, meter_value=[{"timestamp": iso(30), "sampledValue": samples}]
        )
        await cp.call(message)
        await cp.call(message)  # a resend: each kept once

    asyncio.run(session(chargers, "CP-MS", "ocpp1.6", Client16, script))
    window = f"from={iso(-60)}&to={iso(600)}"
    reply = service.get(f"/v1/meters/CP-MS:2/samples?{window}")
    assert reply.status == 200, reply.data
    seen = orjson.loads(reply.data)["samples"]
    assert [(s["measurand"], s["phase"], s["location"], s["value"], s["unit"]) for s in seen] == [
        ("Current.Import", "L1", None, 16.1, "A"),
        ("Current.Import", "L2", None, 16.2, "A"),
        ("Current.Import", "L3", None, 16.3, "A"),
        ("Power.Active.Import", None, None, 11.2, "kW"),
        ("SoC", None, "EV", 63, "%"),
        ("Temperature", None, "Body", 31.5, "Celsius"),
    ]
    assert {s["timestamp"] for s in seen} == {iso(30)}
    wait_until(lambda: stored_readings(clean_db) == 1, what="the Inlet's register stored")
    newest = orjson.loads(service.get("/v1/meters/CP-MS:2").data)
    assert newest["kwhRegisterAc"] == 5000


def test_signed_values_are_kept_on_their_transaction_verified_and_a_forgery_fails(
    service, chargers, clean_db, tmp_path
):
    """A 1.6 transaction's OCMF values (begin, a periodic one tampered with after signing, and an
    end whose signed reading is not the unsigned one) and a 2.0.1 transaction's, Base64 as the
    OCA's note has it, each judged against the key `flask devices key` configured."""
    key = ocmf_fixtures.meter_key()
    key_file = tmp_path / "meter.pem"
    key_file.write_text(ocmf_fixtures.public_pem(key))
    service.flask("devices", "key", "CP-SIG:1", str(key_file))
    (tmp_path / "meter.hex").write_text(ocmf_fixtures.public_hex(key))
    service.flask("devices", "key", "CP-SIG2", str(tmp_path / "meter.hex"))  # the whole charger
    begin = ocmf_fixtures.record(key, ocmf_fixtures.payload(("B", "10.000")))
    periodic = ocmf_fixtures.tampered(
        ocmf_fixtures.record(key, ocmf_fixtures.payload(("T", "10.500"))), "10.500", "10.900"
    )
    end = ocmf_fixtures.record(key, ocmf_fixtures.payload(("E", "12.000")))

    def signed_sample(record: str, context: str) -> dict:
        return sampled(record, format="SignedData", context=context)

    async def v16(cp):
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=10_000, timestamp=iso(0)
            )
        )
        begin_values = [sampled("10000", context="Transaction.Begin"),
                        signed_sample(begin, "Transaction.Begin")]  # fmt: skip
        for seconds, samples in ((0, begin_values), (60, [sampled("10500"),
                                  signed_sample(periodic, "Sample.Periodic")])):  # fmt: skip
            message = call16.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[{"timestamp": iso(seconds), "sampledValue": samples}],
            )
            await cp.call(message)
            await cp.call(message)  # a resend: kept once
        end_values = [sampled("11500", context="Transaction.End"),
                      signed_sample(end, "Transaction.End")]  # fmt: skip
        await cp.call(
            call16.StopTransaction(
                meter_stop=11_500,
                timestamp=iso(120),
                transaction_id=started.transaction_id,
                transaction_data=[{"timestamp": iso(120), "sampledValue": end_values}],
            )
        )
        return started.transaction_id

    async def v201(cp):
        for seq, (event, seconds, wh, tx) in enumerate(
            [("Started", 0, 5000, "B"), ("Ended", 60, 7000, "E")]
        ):
            signed = ocmf_fixtures.record(key, ocmf_fixtures.payload((tx, str(wh // 1000))))
            value = {
                "value": wh,
                "context": "Transaction.Begin" if event == "Started" else "Transaction.End",
                "signed_meter_value": {
                    "signed_meter_data": ocmf_fixtures.as_base64(signed),
                    "signing_method": "",
                    "encoding_method": "OCMF",
                    "public_key": "",
                },
            }
            await cp.call(
                call201.TransactionEvent(
                    event_type=event,
                    timestamp=iso(seconds),
                    trigger_reason="MeterValuePeriodic",
                    seq_no=seq,
                    transaction_info={"transaction_id": "T-SIG"},
                    evse={"id": 1, "connector_id": 1},
                    meter_value=[{"timestamp": iso(seconds), "sampled_value": [value]}],
                )
            )

    transaction = asyncio.run(session(chargers, "CP-SIG", "ocpp1.6", Client16, v16))
    asyncio.run(session(chargers, "CP-SIG2", "ocpp2.0.1", Client201, v201))
    wait_until(lambda: stored_readings(clean_db) == 5, what="both transactions' registers stored")

    window = f"from={iso(-60)}&to={iso(600)}"
    [one] = orjson.loads(service.get(f"/v1/meters/CP-SIG:1/sessions?{window}").data)["sessions"]
    assert one["transactionId"] == str(transaction)
    seen = [
        (v["context"], v["signatureValid"], v["signedKwh"], v["unsignedKwh"], v["matchesUnsigned"])
        for v in one["signedValues"]
    ]
    assert seen == [
        ("Transaction.Begin", True, 10, 10, True),
        ("Sample.Periodic", False, None, 10.5, None),  # tampered: nothing read from it
        ("Transaction.End", True, 12, 11.5, False),  # signed 12 kWh, sent 11.5 unsigned: flagged
    ]
    assert [v["signedData"] for v in one["signedValues"]] == [begin, periodic, end]
    assert one["signedValues"][1]["reason"] == "the signature does not match the payload"

    [two] = orjson.loads(service.get(f"/v1/meters/CP-SIG2:1/sessions?{window}").data)["sessions"]
    assert [(v["signatureValid"], v["matchesUnsigned"]) for v in two["signedValues"]] == [
        (True, True),
        (True, True),
    ]
    assert two["signedValues"][0]["encodingMethod"] == "OCMF"

    # A meter's window of them, a page at a time; without its key they are not judged.
    service.flask("devices", "key", "CP-SIG:1", "--remove")
    first = orjson.loads(service.get(f"/v1/meters/CP-SIG:1/signed-values?{window}&limit=2").data)
    rest = service.get(
        f"/v1/meters/CP-SIG:1/signed-values?{window}&limit=2&cursor={first['nextCursor']}"
    )
    listed = first["signedValues"] + orjson.loads(rest.data)["signedValues"]
    assert [v["signedData"] for v in listed] == [begin, periodic, end]
    assert {v["signatureValid"] for v in listed} == {None}
    assert listed[0]["reason"] == "no public key is configured for this meter"

"""Chargers' availability through the real processes (web, worker, ocpp): statuses a charger
sends over OCPP 1.6J and 2.0.1, its WebSocket closing and opening again, a forwarded charger
going silent, and what GET /v1/meters/<id>/availability answers. The issue's example runs here
at a second for its minute (its exact figures, with connections written by hand, are in
tests/models/test_availability.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import orjson
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201

from tests.support.chargers import session, start_chargers
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def availability(service, meter: str, start: datetime, end: datetime, csv_wanted: bool = False):
    query = f"from={quote(z(start))}&to={quote(z(end))}"
    headers = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
    if csv_wanted:
        headers["Accept"] = "text/csv"
    return service.http.request(
        "GET", f"{service.url}/v1/meters/{meter}/availability?{query}", headers=headers, timeout=10
    )


def test_the_issues_example_at_a_second_a_minute(service):
    url = start_chargers(service)
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)

    def second(n: float) -> str:
        return z(t0 + timedelta(seconds=n))

    async def before_the_cut(cp):
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        for n, status, code, vendor in (
            (0, "Available", "NoError", None),
            (10, "Faulted", "GroundFailure", "E12"),
            (40, "Available", "NoError", None),
        ):
            message = call16.StatusNotification(
                connector_id=1,
                error_code=code,
                status=status,
                timestamp=second(n / 10),
                vendor_error_code=vendor,
            )
            await cp.call(message)
            await cp.call(message)  # a resend changes nothing
        await asyncio.sleep((t0 + timedelta(seconds=6) - datetime.now(UTC)).total_seconds())

    async def after_the_cut(cp):
        await asyncio.sleep((t0 + timedelta(seconds=12.5) - datetime.now(UTC)).total_seconds())

    asyncio.run(session(url, "CP-A", "ocpp1.6", Client16, before_the_cut))
    time.sleep((t0 + timedelta(seconds=8) - datetime.now(UTC)).total_seconds())
    asyncio.run(session(url, "CP-A", "ocpp1.6", Client16, after_the_cut))

    reply = availability(service, "CP-A:1", t0, t0 + timedelta(seconds=12))
    assert reply.status == 200, reply.data
    seen = orjson.loads(reply.data)
    # The socket's close and open are the server's own moments: a tenth of a second's leeway.
    assert abs(seen["uptimeRatio"] - 7 / 12) < 0.02, seen
    assert abs(seen["offlineSeconds"] - 2) < 0.2, seen
    assert seen["faultedSeconds"] == 3
    assert seen["unknownSeconds"] == 0
    faulted, offline = seen["outages"]
    assert faulted == {
        "start": second(1),
        "end": second(4),
        "kind": "faulted",
        "errorCode": "GroundFailure",
        "vendorErrorCode": "E12",
        "info": None,
    }
    assert offline["kind"] == "offline"
    cut = datetime.fromisoformat(offline["start"]) - (t0 + timedelta(seconds=6))
    assert abs(cut) < timedelta(seconds=0.2)

    # The outages as CSV, one row each.
    as_csv = availability(service, "CP-A:1", t0, t0 + timedelta(seconds=12), csv_wanted=True)
    rows = list(csv.DictReader(io.StringIO(as_csv.data.decode())))
    assert [(r["meterId"], r["kind"], r["errorCode"]) for r in rows] == [
        ("CP-A:1", "faulted", "GroundFailure"),
        ("CP-A:1", "offline", ""),
    ]


def test_a_2_0_1_chargers_statuses_and_the_charger_as_a_whole(service):
    url = start_chargers(service)
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)

    async def script(cp):
        for n, evse, status in ((0, 1, "Available"), (1, 1, "Occupied"), (2, 1, "Unavailable")):
            await cp.call(
                call201.StatusNotification(
                    timestamp=z(t0 + timedelta(seconds=n)),
                    connector_status=status,
                    evse_id=evse,
                    connector_id=1,
                )
            )
        await asyncio.sleep((t0 + timedelta(seconds=3.3) - datetime.now(UTC)).total_seconds())

    asyncio.run(session(url, "CP-B", "ocpp2.0.1", Client201, script))
    seen = orjson.loads(availability(service, "CP-B:1", t0, t0 + timedelta(seconds=3)).data)
    assert seen["upSeconds"] == 2
    assert seen["outages"][0]["kind"] == "unavailable"
    assert seen["outages"][0]["start"] == z(t0 + timedelta(seconds=2))
    # The charger's own meter said nothing: its connection is known, its state is not.
    whole = orjson.loads(availability(service, "CP-B", t0, t0 + timedelta(seconds=3)).data)
    assert whole["uptimeRatio"] is None
    assert whole["unknownSeconds"] > 0
    # The listing: worst first, with the status each connector last sent.
    listing = service.http.request(
        "GET",
        f"{service.url}/v1/analytics/availability?from={quote(z(t0))}"
        f"&to={quote(z(t0 + timedelta(seconds=3)))}&limit=1",
        headers={"Authorization": f"Bearer {ANALYST_TOKEN}"},
        timeout=10,
    )
    page = orjson.loads(listing.data)
    [item] = page["items"]
    assert (item["meterId"], item["status"], item["outages"]) == ("CP-B:1", "Unavailable", 1)
    assert item["uptimeRatio"] == seen["uptimeRatio"]
    # A charger never heard of is not found; a window backwards is a 400.
    assert availability(service, "CP-NONE:1", t0, t0 + timedelta(seconds=3)).status == 404
    assert availability(service, "CP-B:1", t0, t0 - timedelta(seconds=3)).status == 400


def test_a_forwarded_charger_silent_for_two_heartbeats_is_offline(service):
    service.env["OCPP_HEARTBEAT_SECONDS"] = "1"  # silence: 2 s
    service.start("web")

    def forward(frame: list) -> dict:
        reply = service.http.request(
            "POST",
            f"{service.url}/v1/ocpp/1.6/FW-1",
            body=orjson.dumps(frame),
            headers={"Authorization": f"Bearer {DEVICE_TOKEN}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert reply.status == 200, reply.data
        return orjson.loads(reply.data)

    said = z(datetime.now(UTC) - timedelta(seconds=1))
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": said}
    assert forward([2, "s1", "StatusNotification", status])[0] == 3
    t0 = datetime.now(UTC)  # heard from a moment ago
    time.sleep(3.5)  # silent for more than two heartbeat intervals
    assert forward([2, "h1", "Heartbeat", {}])[0] == 3
    end = datetime.now(UTC)
    seen = orjson.loads(availability(service, "FW-1:1", t0, end).data)
    [offline] = seen["outages"]
    assert offline["kind"] == "offline"
    silent = datetime.fromisoformat(offline["end"]) - datetime.fromisoformat(offline["start"])
    assert timedelta(seconds=1) < silent < timedelta(seconds=2.5), seen

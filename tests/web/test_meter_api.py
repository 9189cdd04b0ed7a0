"""A meter's (a charger's) figures through the API: the reference's on a fleet with shared meters
and duplicates, its vehicles' own figures summed, by hour, by day, over a window, and the meters
by pages."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from efficiency import reference, refresh
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN
from tests.support.efficiency import close, fleet_records
from tests.support.factories import meter_rec, vehicle_rec
from web.contract import responses

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
START = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
AS_OF = START + timedelta(hours=26, seconds=20)

pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture
def fleet(clean_db):
    """26 hours of a small fleet (10 meters, 14 vehicles, shared meters, duplicates), refreshed
    as it arrived and once at the end."""
    records = fleet_records(START, 26)
    half = len(records) // 2
    with clean_db.begin() as conn:
        write_batch(conn, records[:half])
        refresh.refresh(conn, START + timedelta(hours=13))
        write_batch(conn, records[half:])
        refresh.refresh(conn, AS_OF)
    return records


def _get(client, path: str):
    return client.get(f"/v1/analytics/meters{path}", headers=ANALYST)


def test_each_meter_answers_the_reference(client, fleet):
    expected = reference.meters(fleet, AS_OF)
    assert len(expected) == 10
    for meter_id, figures in expected.items():
        reply = _get(client, f"/{meter_id}")
        assert reply.status_code == 200, reply.json
        body = reply.json
        assert close({k: body[k] for k in figures}, figures), (meter_id, body, figures)
        assert body["windowEnd"] == "2026-02-10T10:00:00Z"
        assert body["windowStart"] == "2026-02-09T10:00:00Z"


def test_a_meter_sums_its_vehicles_minutes_on_it(clean_db, client, fleet):
    """Summed over every meter, the figures are the vehicles' own, exactly; and per meter, the
    kept minutes of the vehicles on it."""
    with clean_db.connect() as conn:
        sums = conn.execute(
            text(
                "SELECT (SELECT sum(ac_kwh) FROM meter_efficiency_24h), "
                "(SELECT sum(ac_kwh) FROM vehicle_efficiency_24h), "
                "(SELECT sum(dc_kwh) FROM meter_efficiency_24h), "
                "(SELECT sum(dc_kwh) FROM vehicle_efficiency_24h), "
                "(SELECT sum(readings) FROM meter_efficiency_24h), "
                "(SELECT sum(readings) FROM vehicle_efficiency_24h)"
            )
        ).one()
    assert (sums[0], sums[2], sums[4]) == (sums[1], sums[3], sums[5])
    assert sums[0] > 0
    on_meter: dict[str, dict[str, Decimal]] = {}
    for kept in reference.kept_minutes(fleet, AS_OF):
        held = on_meter.setdefault(kept.meter, {"ac": Decimal(0), "dc": Decimal(0)})
        held["ac"] += kept.ac
        held["dc"] += kept.dc
    for meter_id, held in on_meter.items():
        body = _get(client, f"/{meter_id}").json
        assert body["totalAcConsumedKwh"] == pytest.approx(float(held["ac"]))
        assert body["totalDcDeliveredKwh"] == pytest.approx(float(held["dc"]))


def test_a_full_rebuild_gives_the_meters_the_incremental_refresh_gave(clean_db, client, fleet):
    before = {m: _get(client, f"/{m}").json for m in reference.meters(fleet, AS_OF)}
    with clean_db.begin() as conn:
        refresh.refresh(conn, AS_OF, full=True)
    for meter_id, body in before.items():
        again = _get(client, f"/{meter_id}").json
        assert {k: v for k, v in again.items() if k != "refreshedAt"} == {
            k: v for k, v in body.items() if k != "refreshedAt"
        }


def test_hours_and_days_sum_to_the_window(client, fleet):
    meter_id = next(iter(reference.meters(fleet, AS_OF)))
    whole = _get(client, f"/{meter_id}").json
    hours = _get(client, f"/{meter_id}/hourly").json["hours"]
    assert sum(h["minutesCounted"] for h in hours) == whole["minutesCounted"]
    assert sum(h["acConsumedKwh"] for h in hours) == pytest.approx(whole["totalAcConsumedKwh"])
    assert max(h["vehiclesServed"] for h in hours) <= whole["vehiclesServed"]
    days = _get(client, f"/{meter_id}/daily?days=2").json
    assert days["meterId"] == meter_id
    for day in days["days"]:
        start = datetime.fromisoformat(day["day"])
        end = (start + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        window = _get(client, f"/{meter_id}?from={day['day']}&to={end}").json
        assert day["acConsumedKwh"] == pytest.approx(window["totalAcConsumedKwh"])
        assert day["dcDeliveredKwh"] == pytest.approx(window["totalDcDeliveredKwh"])
        for figure in ("minutesCounted", "readingsCounted", "suspectMinutes", "vehiclesServed"):
            assert day[figure] == window[figure], figure


def test_the_listing_pages_through_every_meter_in_order(client, fleet):
    expected = reference.meters(fleet, AS_OF)
    for sort in ("chargingEfficiency", "vehiclesServed", "suspectMinutes", "meterId"):
        for order in ("asc", "desc"):
            seen, cursor = [], None
            while True:
                query = f"?sort={sort}&order={order}&limit=3"
                reply = _get(client, query + (f"&cursor={cursor}" if cursor else ""))
                assert reply.status_code == 200, reply.json
                seen += reply.json["items"]
                cursor = reply.json["nextCursor"]
                if cursor is None:
                    break
            assert sorted(i["meterId"] for i in seen) == sorted(expected)
            keys = [(i[sort], i["meterId"]) for i in seen]
            assert keys == sorted(keys, reverse=order == "desc"), (sort, order)


def test_efficiency_bounds_filter_the_meters(client, fleet):
    expected = reference.meters(fleet, AS_OF)
    low = sorted(f["chargingEfficiency"] for f in expected.values())[4]
    reply = _get(client, f"?maxEfficiency={low}&limit=100")
    assert {i["meterId"] for i in reply.json["items"]} == {
        m for m, f in expected.items() if f["chargingEfficiency"] <= low
    }


def test_a_vehicle_on_two_meters_in_one_minute(clean_db, client):
    """It counts one minute; each meter counts one, and DC over AC is a suspect minute on the
    meter where it happened, without changing the sums."""
    at = datetime(2026, 2, 9, 10, 0, 5, tzinfo=UTC)
    with clean_db.begin() as conn:
        write_batch(
            conn,
            [
                meter_rec("M1", at, kwh=1.0),
                meter_rec("M2", at, kwh=0.5),
                vehicle_rec("V1", "M1", at, kwh=0.9),
                vehicle_rec("V1", "M2", at + timedelta(seconds=20), kwh=0.6),
            ],
        )
        refresh.refresh(conn, at + timedelta(minutes=5))
    vehicle = client.get("/v1/analytics/performance/V1", headers=ANALYST).json
    assert vehicle["minutesCounted"] == 1
    assert vehicle["suspectMinutes"] == 1
    assert vehicle["totalAcConsumedKwh"] == pytest.approx(1.5)
    assert vehicle["totalDcDeliveredKwh"] == pytest.approx(1.5)
    m1, m2 = _get(client, "/M1").json, _get(client, "/M2").json
    assert (m1["minutesCounted"], m1["suspectMinutes"], m1["vehiclesServed"]) == (1, 0, 1)
    assert (m2["minutesCounted"], m2["suspectMinutes"], m2["chargingEfficiency"]) == (1, 1, 1.2)


def test_missing_and_bad_requests(client, fleet):
    reply = _get(client, "/NOPE")
    assert reply.status_code == 404
    assert reply.json["meterId"] == "NOPE"
    assert "message" in reply.json
    assert _get(client, "/NOPE/hourly").status_code == 404
    assert _get(client, "/M1/daily?days=0").json["error"] == "invalid_query"
    assert _get(client, "?sort=averageSoc").json["error"] == "invalid_query"
    # `to` alone is not a window; `from` alone is one up to now.
    assert _get(client, "/M1?to=2026-02-10T00:00:00Z").json["error"] == "invalid_query"
    assert _get(client, "/M00001?from=2026-02-09T00:00:00Z").status_code == 200
    assert _get(client, "?cursor=garbage").json["error"] == "invalid_cursor"
    device = {"Authorization": f"Bearer {DEVICE_TOKEN}"}
    assert client.get("/v1/analytics/meters/M1", headers=device).status_code == 403
    assert client.get("/v1/analytics/meters/M1").status_code == 401


@pytest.mark.parametrize(
    ("path", "fields", "id_field"),
    [
        ("/v1/analytics/meters", responses.METER_FIELDS, "meterId"),
        ("/v1/analytics/performance", responses.VEHICLE_FIELDS, "vehicleId"),
    ],
)
def test_listings_as_csv_hold_every_row_in_the_listings_order(
    client, fleet, path, fields, id_field
):
    query = "?sort=totalAcConsumedKwh&order=desc&limit=2"
    reply = client.get(path + query, headers={**ANALYST, "Accept": "text/csv"})
    assert reply.status_code == 200
    assert reply.mimetype == "text/csv"
    assert "attachment" in reply.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))
    pages, cursor = [], None
    while True:
        got = client.get(
            path + query + (f"&cursor={cursor}" if cursor else ""), headers=ANALYST
        ).json
        pages += got["items"]
        cursor = got["nextCursor"]
        if cursor is None:
            break
    assert list(table[0]) == [*fields, "windowStart", "windowEnd", "refreshedAt"]
    assert list(pages[0]) == list(fields)
    # Every row, not a page of `limit`, in the order the pages give, with the same figures.
    assert [row[id_field] for row in table] == [item[id_field] for item in pages]
    for row, item in zip(table, pages, strict=True):
        assert float(row["totalAcConsumedKwh"]) == pytest.approx(item["totalAcConsumedKwh"])
        assert int(row["minutesCounted"]) == item["minutesCounted"]
        assert row["windowEnd"] == got["windowEnd"]


def test_an_empty_listing_as_csv_is_its_header(client, fleet):
    reply = client.get(
        "/v1/analytics/meters?minEfficiency=50", headers={**ANALYST, "Accept": "text/csv"}
    )
    assert reply.get_data(as_text=True).splitlines() == [
        ",".join([*responses.METER_FIELDS, "windowStart", "windowEnd", "refreshedAt"])
    ]

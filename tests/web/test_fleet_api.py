"""The fleet listing, a vehicle's hours, and HTTP caching, over real PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text

from efficiency import refresh
from efficiency.fleet import METERS, SORT_ALIASES, SORTS
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.factories import meter_rec, vehicle_rec

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
AS_OF = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)
# Vehicle k charges on its own meter for 3 minutes an hour ago and 2 minutes 3 hours ago:
# efficiency 0.70 + 0.05 k.
FLEET = 7


# Tests here write to the database through the app: emptied after each.
pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture
def fleet(clean_db):
    records = []
    for k in range(FLEET):
        for hours_ago, minutes in ((1, 3), (3, 2)):
            for m in range(minutes):
                moment = AS_OF - timedelta(hours=hours_ago) + timedelta(minutes=m, seconds=5)
                records.append(meter_rec(f"M{k}", moment, kwh=1.0))
                records.append(
                    vehicle_rec(f"V{k}", f"M{k}", moment, kwh=0.70 + 0.05 * k, soc=40 + k)
                )
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, AS_OF)


def _pages(client, query: str) -> list[list[str]]:
    pages, url = [], f"/v1/analytics/performance?{query}"
    while True:
        reply = client.get(url, headers=ANALYST)
        assert reply.status_code == 200, reply.json
        pages.append([item["vehicleId"] for item in reply.json["items"]])
        cursor = reply.json["nextCursor"]
        if cursor is None:
            return pages
        url = f"/v1/analytics/performance?{query}&cursor={cursor}"


def _items(client, query: str) -> list[dict]:
    items, url = [], f"/v1/analytics/performance?{query}"
    while url:
        reply = client.get(url, headers=ANALYST)
        assert reply.status_code == 200, reply.json
        items += reply.json["items"]
        cursor = reply.json["nextCursor"]
        url = cursor and f"/v1/analytics/performance?{query}&cursor={cursor}"
    return items


def _ids(pages: list[list[str]]) -> list[str]:
    return [vehicle_id for page in pages for vehicle_id in page]


def test_listing_pages_through_every_vehicle_once_in_order(client, fleet):
    pages = _pages(client, "sort=efficiency&limit=3")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert _ids(pages) == [f"V{k}" for k in range(FLEET)]
    assert _ids(_pages(client, "sort=efficiency&order=desc&limit=2")) == [
        f"V{k}" for k in reversed(range(FLEET))
    ]


def test_listing_filters_by_efficiency_and_shows_the_seven_fields(client, fleet):
    reply = client.get("/v1/analytics/performance?maxEfficiency=0.85", headers=ANALYST)
    items = reply.json["items"]
    assert [i["vehicleId"] for i in items] == ["V0", "V1", "V2", "V3"]
    assert items[0]["chargingEfficiency"] == pytest.approx(0.70)
    assert items[0]["totalAcConsumedKwh"] == pytest.approx(5.0)
    assert items[0]["minutesCounted"] == 5
    assert reply.json["windowEnd"] == "2026-02-10T15:00:00Z"
    low = client.get("/v1/analytics/performance?minEfficiency=0.9", headers=ANALYST).json
    assert [i["vehicleId"] for i in low["items"]] == ["V4", "V5", "V6"]


def test_listing_sorts_by_every_documented_field(client, fleet):
    for sort in ("acConsumedKwh", "dcDeliveredKwh", "averageSoc", "minutesCounted", "vehicleId"):
        ids = _ids(_pages(client, f"sort={sort}&limit=4"))
        assert sorted(ids) == sorted(f"V{k}" for k in range(FLEET)), sort
    assert _ids(_pages(client, "sort=averageSoc&order=desc&limit=4"))[0] == "V6"


def test_each_sort_key_is_the_name_of_the_field_it_sorts_by(client, fleet, clean_db):
    # V9: the most AC, the least DC, minutes and readings, the highest SoC: apart by each.
    moment = AS_OF - timedelta(minutes=30, seconds=-5)
    with clean_db.begin() as conn:
        write_batch(
            conn,
            [meter_rec("M9", moment, kwh=9.0), vehicle_rec("V9", "M9", moment, kwh=0.1, soc=99)],
        )
        refresh.refresh(conn, AS_OF)
    for sort in SORTS:
        for order in ("asc", "desc"):
            items = _items(client, f"sort={sort}&order={order}&limit=3")
            assert sorted(i["vehicleId"] for i in items) == [f"V{k}" for k in [*range(FLEET), 9]]
            values = [item[sort] for item in items]
            assert values == sorted(values, reverse=order == "desc"), (sort, order)


def test_the_older_sort_names_still_work_and_their_cursors_go_on(client, fleet):
    for old, new in SORT_ALIASES.items():
        assert _pages(client, f"sort={old}&limit=3") == _pages(client, f"sort={new}&limit=3")
    first = client.get("/v1/analytics/performance?sort=efficiency&limit=2", headers=ANALYST)
    cursor = _cursor("efficiency", "asc", "0.75", "V1")  # as a listing wrote it before
    for query in (f"cursor={first.json['nextCursor']}", f"sort=chargingEfficiency&cursor={cursor}"):
        reply = client.get(f"/v1/analytics/performance?limit=2&{query}", headers=ANALYST)
        assert [i["vehicleId"] for i in reply.json["items"]] == ["V2", "V3"]


def test_listing_rejects_bad_queries_and_foreign_cursors(client, fleet):
    for query in ("sort=colour", "limit=0", "limit=5000", "order=up", "maxEfficiency=x"):
        reply = client.get(f"/v1/analytics/performance?{query}", headers=ANALYST)
        assert reply.status_code == 400, query
    cursor = client.get("/v1/analytics/performance?limit=2", headers=ANALYST).json["nextCursor"]
    reply = client.get(
        f"/v1/analytics/performance?sort=averageSoc&cursor={cursor}", headers=ANALYST
    )
    assert reply.status_code == 400
    assert reply.json["error"] == "invalid_cursor"
    reply = client.get("/v1/analytics/performance?cursor=bm9wZQ", headers=ANALYST)
    assert reply.status_code == 400


def _cursor(*fields) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(fields))).decode().rstrip("=")


@pytest.mark.parametrize(
    ("value", "vehicle_id"),
    [
        ("0.9", "V\u0000"),  # PostgreSQL text cannot hold a NUL
        ("0.9", "V" * 65),
        ("0.9", "V 1"),
        ("1e1000000", "V1"),  # past what numeric holds
        ("NaN", "V1"),
        ("-Infinity", "V1"),
        ("9" * 100, "V1"),
        (0.9, "V1"),
    ],
)
def test_a_crafted_cursor_is_a_400_not_a_500_or_a_503(client, fleet, value, vehicle_id):
    cursor = _cursor("efficiency", "asc", value, vehicle_id)
    reply = client.get(f"/v1/analytics/performance?cursor={cursor}", headers=ANALYST)
    assert reply.status_code == 400
    assert reply.json["error"] == "invalid_cursor"


def test_a_cursor_past_a_vehicle_without_ac_still_pages(client, fleet):
    cursor = _cursor("efficiency", "asc", "Infinity", "V1")
    reply = client.get(f"/v1/analytics/performance?cursor={cursor}", headers=ANALYST)
    assert reply.status_code == 200


def test_listing_before_any_refresh_says_so(client):
    reply = client.get("/v1/analytics/performance", headers=ANALYST)
    assert reply.status_code == 404
    assert reply.json["error"] == "not_refreshed"


def test_hourly_breakdown_of_a_vehicle(client, fleet):
    reply = client.get("/v1/analytics/performance/V2/hourly", headers=ANALYST)
    assert reply.status_code == 200
    hours = reply.json["hours"]
    assert [h["hour"] for h in hours] == ["2026-02-10T12:00:00Z", "2026-02-10T14:00:00Z"]
    assert [h["minutesCounted"] for h in hours] == [2, 3]
    assert hours[1]["chargingEfficiency"] == pytest.approx(0.80)
    assert hours[1]["acConsumedKwh"] == pytest.approx(3.0)
    assert client.get("/v1/analytics/performance/V9/hourly", headers=ANALYST).status_code == 404


def test_analytics_responses_are_cacheable_until_the_next_refresh(client, fleet, clean_db):
    first = client.get("/v1/analytics/performance/V1", headers=ANALYST)
    etag = first.headers["ETag"]
    assert first.headers["Last-Modified"]
    assert "private" in first.headers["Cache-Control"]
    assert "max-age=" in first.headers["Cache-Control"]
    again = client.get("/v1/analytics/performance/V1", headers={**ANALYST, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""

    # A refresh changes the answer, and the old ETag no longer matches.
    with clean_db.begin() as conn:
        refresh.refresh(conn, AS_OF + timedelta(minutes=1))
    changed = client.get("/v1/analytics/performance/V1", headers={**ANALYST, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    listing = client.get("/v1/analytics/performance", headers=ANALYST)
    assert (
        client.get(
            "/v1/analytics/performance",
            headers={**ANALYST, "If-None-Match": listing.headers["ETag"]},
        ).status_code
        == 304
    )


def test_max_age_runs_to_the_next_refresh(client, fleet, clean_db, settings):
    with clean_db.begin() as conn:
        conn.execute(
            text("UPDATE efficiency_window SET refreshed_at = now() - interval '20 seconds'")
        )
    reply = client.get("/v1/analytics/performance/V1", headers=ANALYST)
    max_age = int(reply.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert settings.refresh_seconds - 22 <= max_age <= settings.refresh_seconds - 19


@pytest.fixture
def fleet_with_no_ac(clean_db, fleet):
    """Three more vehicles whose meters counted no AC: their efficiency is none."""
    records = []
    for k in range(FLEET, FLEET + 3):
        moment = AS_OF - timedelta(hours=1, seconds=-5)
        records.append(meter_rec(f"M{k}", moment, kwh=0.0))
        records.append(vehicle_rec(f"V{k}", f"M{k}", moment, kwh=0.5, soc=40))
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, AS_OF)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    ("listing", "sorts"),
    [
        ("performance", [*SORTS]),
        ("meters", [*METERS.sorts]),
    ],
)
def test_every_row_appears_once_on_every_sort_and_order_with_rows_of_no_efficiency(
    client, fleet_with_no_ac, listing, sorts, order
):
    wire_id = "vehicleId" if listing == "performance" else "meterId"
    for sort in sorts:
        seen, url = [], f"/v1/analytics/{listing}?sort={sort}&order={order}&limit=1"
        for _ in range(3 * (FLEET + 3)):  # a listing that pages forever is stopped here
            reply = client.get(url, headers=ANALYST)
            assert reply.status_code == 200, reply.json
            seen += [item[wire_id] for item in reply.json["items"]]
            if reply.json["nextCursor"] is None:
                break
            url = f"/v1/analytics/{listing}?sort={sort}&order={order}&limit=1"
            url += f"&cursor={reply.json['nextCursor']}"
        assert sorted(seen) == sorted({*seen}), (sort, seen)
        assert len(seen) == FLEET + 3, (sort, seen)

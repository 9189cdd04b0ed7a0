"""A vehicle's figures by UTC day: each day's row is what the window of that day answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from efficiency import refresh
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.factories import meter_rec, vehicle_rec

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
AS_OF = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)
FIGURES = (
    "acConsumedKwh",
    "dcDeliveredKwh",
    "chargingEfficiency",
    "averageSoc",
    "averageBatteryTemp",
    "minutesCounted",
    "readingsCounted",
)

pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture
def three_days(clean_db):
    """V1 charges on M1 two days before the refresh, across the next midnight, and an hour
    before the refresh, at a different efficiency each time."""
    records = []
    for start, minutes, dc in (
        (datetime(2026, 2, 8, 10, 0, 5, tzinfo=UTC), 3, 0.9),
        (datetime(2026, 2, 9, 23, 58, 5, tzinfo=UTC), 4, 0.8),
        (datetime(2026, 2, 10, 14, 0, 5, tzinfo=UTC), 2, 0.7),
    ):
        for m in range(minutes):
            moment = start + timedelta(minutes=m)
            records.append(meter_rec("M1", moment, kwh=1.0))
            records.append(vehicle_rec("V1", "M1", moment, kwh=dc, soc=50 + m))
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, AS_OF)


def _get(client, path: str):
    return client.get(f"/v1/analytics/performance/V1{path}", headers=ANALYST)


def test_each_day_is_the_window_of_that_day(client, three_days):
    reply = _get(client, "/daily?days=3")
    assert reply.status_code == 200
    days = reply.json["days"]
    assert [d["day"] for d in days] == [
        "2026-02-08T00:00:00Z",
        "2026-02-09T00:00:00Z",
        "2026-02-10T00:00:00Z",
    ]
    assert [d["minutesCounted"] for d in days] == [3, 2, 4]
    assert days[0]["chargingEfficiency"] == pytest.approx(0.9)
    for day in days:
        start = datetime.fromisoformat(day["day"])
        end = (start + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        window = _get(client, f"?from={day['day']}&to={end}").json
        assert day["acConsumedKwh"] == pytest.approx(window["totalAcConsumedKwh"])
        assert day["dcDeliveredKwh"] == pytest.approx(window["totalDcDeliveredKwh"])
        for figure in FIGURES[2:]:
            assert day[figure] == pytest.approx(window[figure]), figure
    assert reply.json["windowEnd"] == "2026-02-10T15:00:00Z"


def test_days_counts_back_from_the_day_of_the_last_refresh(client, three_days):
    assert [d["day"][:10] for d in _get(client, "/daily?days=2").json["days"]] == [
        "2026-02-09",
        "2026-02-10",
    ]
    assert len(_get(client, "/daily").json["days"]) == 3  # a week by default


def test_bad_days_and_unknown_vehicles_get_clear_errors(client, three_days):
    for query in ("days=0", "days=367", "days=x"):
        reply = _get(client, f"/daily?{query}")
        assert reply.status_code == 400, query
        assert reply.json["error"] == "invalid_query"
    reply = client.get("/v1/analytics/performance/V9/daily", headers=ANALYST)
    assert reply.status_code == 404

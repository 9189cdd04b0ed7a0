"""GET /v1/analytics/performance/<id>?from=&to=: efficiency over any window, from the same
per-minute contributions as the 24 h table, with the same rule and the same figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from efficiency import refresh
from efficiency.reference import efficiency
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.efficiency import SEVEN, close, fleet_records

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
START = datetime(2030, 3, 1, 6, 0, tzinfo=UTC)
AS_OF = START + timedelta(hours=27, seconds=40)


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def records() -> list:
    return fleet_records(START, 27)


@pytest.fixture
def client(client, clean_db, records):
    """The shared client, over a 27 h fleet refreshed at AS_OF."""
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, AS_OF)
    return client


def over(client, vehicle_id: str, start: datetime | str, end: datetime | str):
    query = {
        "from": z(start) if isinstance(start, datetime) else start,
        "to": z(end) if isinstance(end, datetime) else end,
    }
    return client.get(
        f"/v1/analytics/performance/{vehicle_id}", query_string=query, headers=ANALYST
    )


def vehicles(clean_db) -> list[str]:
    with clean_db.connect() as conn:
        return list(conn.execute(text("SELECT vehicle_id FROM vehicle_efficiency_24h")).scalars())


def test_the_24h_window_asked_for_is_the_24h_table_exactly(client, clean_db):
    ids = vehicles(clean_db)
    assert len(ids) > 5
    for vehicle_id in ids:
        table = client.get(f"/v1/analytics/performance/{vehicle_id}", headers=ANALYST).json
        start = datetime.fromisoformat(table["windowStart"])
        end = datetime.fromisoformat(table["windowEnd"])
        assert over(client, vehicle_id, start, end).json == table


def test_an_earlier_24h_window_matches_the_reference(client, records):
    end = AS_OF.replace(second=0) - timedelta(hours=2, minutes=17)
    expected = efficiency(records, end)
    assert len(expected) > 5
    for vehicle_id, figures in expected.items():
        body = over(client, vehicle_id, end - timedelta(hours=24), end).json
        assert close({k: body[k] for k in SEVEN}, figures), (vehicle_id, body, figures)
        assert body["timeWindowHours"] == 24


def test_a_short_window_counts_only_its_minutes(client, clean_db):
    start = START + timedelta(hours=10)
    end = start + timedelta(minutes=90)
    with clean_db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT vehicle_id, sum(dc_kwh) AS dc, count(*) AS minutes "
                "FROM vehicle_minute_contributions WHERE minute >= :s AND minute < :e "
                "GROUP BY 1 ORDER BY 3 DESC LIMIT 1"
            ),
            {"s": start, "e": end},
        ).one()
    body = over(client, row.vehicle_id, start, end).json
    assert body["minutesCounted"] == row.minutes
    assert body["totalDcDeliveredKwh"] == pytest.approx(float(row.dc))
    assert body["timeWindowHours"] == 1.5
    assert (body["windowStart"], body["windowEnd"]) == (z(start), z(end))


def test_minutes_not_refreshed_yet_are_not_claimed(client, clean_db):
    (vehicle_id, *_) = vehicles(clean_db)
    body = over(client, vehicle_id, START, AS_OF + timedelta(days=2)).json
    assert body["windowEnd"] == z(AS_OF.replace(second=0))


def test_a_window_without_data_is_404(client, clean_db):
    (vehicle_id, *_) = vehicles(clean_db)
    reply = over(client, vehicle_id, START - timedelta(days=3), START - timedelta(days=2))
    assert reply.status_code == 404
    assert reply.json["message"].startswith("No charging data found in this window")


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2030-03-01T10:00:00Z", "2030-03-01T09:00:00Z", "to"),
        ("2030-03-01T10:00:00", "2030-03-01T11:00:00Z", "from"),
        ("yesterday", "2030-03-01T11:00:00Z", "from"),
        ("0001-01-01T00:05:00+16:30", "2030-03-01T11:00:00Z", "from"),
    ],
)
def test_a_bad_window_is_400_naming_the_field(client, start, end, field):
    reply = over(client, "V1", start, end)
    assert reply.status_code == 400
    assert reply.json["error"] == "invalid_query"
    assert field in reply.json["fields"]


def test_from_without_to_is_400(client):
    reply = client.get(
        "/v1/analytics/performance/V1", query_string={"from": z(START)}, headers=ANALYST
    )
    assert reply.status_code == 400
    assert "to" in reply.json["fields"]


def test_any_offset_python_reads_is_taken_though_postgresql_would_not(client, clean_db):
    # PostgreSQL refuses offsets past 15:59; the bounds reach it in UTC.
    (vehicle_id, *_) = vehicles(clean_db)
    reply = over(client, vehicle_id, "2030-02-28T12:00:00-20:08", "2030-03-05T00:00:00+16:30")
    assert reply.status_code == 200
    assert reply.json["windowStart"] == "2030-03-01T08:08:00Z"

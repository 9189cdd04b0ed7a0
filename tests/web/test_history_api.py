"""A device's raw history over real PostgreSQL: JSON pages joined by cursor, the same readings as
streamed CSV, bounded by from/to, only that device's."""

from __future__ import annotations

import base64
import csv
import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.factories import T0, at, meter_rec, vehicle_rec
from web import create_app
from web.contract import cursors

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
# The whole test history, whatever the default window (24 h before now) would be.
ALL = {"from": (T0 - timedelta(days=1)).isoformat(), "to": (T0 + timedelta(days=1)).isoformat()}


@pytest.fixture
def history(clean_db):
    records = [meter_rec("M1", at(m), kwh=0.1 * (m + 1), voltage=230 + m) for m in range(7)]
    records += [meter_rec("M2", at(m)) for m in range(3)]
    records += [vehicle_rec("V1", "M1", at(m), kwh=0.09, soc=20 + m) for m in range(4)]
    with clean_db.begin() as conn:
        write_batch(conn, records)


def get(client, path: str, **query):
    return client.get(path, query_string={**ALL, **query}, headers=ANALYST)


def test_pages_joined_by_their_cursors_are_the_device_history_in_order(client, history):
    seen, cursor, pages = [], None, 0
    while True:
        reply = get(
            client, "/v1/meters/M1/readings", limit=3, **({"cursor": cursor} if cursor else {})
        )
        assert reply.status_code == 200
        assert reply.json["meterId"] == "M1"
        seen += reply.json["readings"]
        pages += 1
        cursor = reply.json["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [r["timestamp"] for r in seen] == [
        at(m).isoformat().replace("+00:00", "Z") for m in range(7)
    ]
    assert seen[2] == {
        "timestamp": at(2).isoformat().replace("+00:00", "Z"),
        "kwhConsumedAc": pytest.approx(0.3),
        "voltage": 232.0,
        "kwhRegisterAc": None,
    }


def test_from_and_to_bound_the_readings(client, history):
    reply = get(
        client, "/v1/vehicles/V1/readings", **{"from": at(1).isoformat(), "to": at(3).isoformat()}
    )
    readings = reply.json["readings"]
    assert [r["soc"] for r in readings] == [21.0, 22.0], "from is kept, to is not"
    assert readings[0]["meterId"] == "M1"
    assert reply.json["nextCursor"] is None


def test_csv_streams_the_same_readings(client, history):
    reply = client.get(
        "/v1/meters/M1/readings", query_string=ALL, headers={**ANALYST, "Accept": "text/csv"}
    )
    assert reply.status_code == 200
    assert reply.mimetype == "text/csv"
    assert reply.is_streamed
    assert "attachment" in reply.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))
    as_json = get(client, "/v1/meters/M1/readings").json["readings"]
    assert len(rows) == len(as_json) == 7
    for row, reading in zip(rows, as_json, strict=True):
        assert row["meterId"] == "M1"
        assert row["timestamp"] == reading["timestamp"]
        assert float(row["kwhConsumedAc"]) == reading["kwhConsumedAc"]
        assert float(row["voltage"]) == reading["voltage"]


def test_csv_over_many_pages_is_whole(client, clean_db, monkeypatch):
    from web.api import history as history_view

    monkeypatch.setattr(history_view, "CSV_PAGE", 4)
    with clean_db.begin() as conn:
        write_batch(conn, [vehicle_rec("V9", "M1", at(m)) for m in range(11)])
    reply = client.get(
        "/v1/vehicles/V9/readings", query_string=ALL, headers={**ANALYST, "Accept": "text/csv"}
    )
    lines = reply.get_data(as_text=True).splitlines()
    assert lines[0] == "vehicleId,timestamp,meterId,kwhDeliveredDc,soc,batteryTemp,kwhRegisterDc"
    assert len(lines) == 12
    assert len(set(lines[1:])) == 11


def test_a_device_without_readings_has_an_empty_history(client, history):
    reply = get(client, "/v1/meters/M9/readings")
    assert reply.status_code == 200
    assert reply.json["readings"] == []


@pytest.mark.parametrize(
    ("path", "query", "code"),
    [
        ("/v1/meters/M%201/readings", {}, "invalid_id"),
        (
            "/v1/meters/M1/readings",
            {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "invalid_query",
        ),
        ("/v1/meters/M1/readings", {"from": "2026-01-02T00:00:00"}, "invalid_query"),
        ("/v1/meters/M1/readings", {"limit": "0"}, "invalid_query"),
        ("/v1/meters/M1/readings", {"cursor": "not-a-cursor"}, "invalid_cursor"),
        ("/v1/meters/M1/readings", {"to": "0001-01-01T10:00:00Z"}, "invalid_query"),
    ],
)
def test_bad_requests_are_400_with_a_reason(client, path, query, code):
    reply = client.get(path, query_string=query, headers=ANALYST)
    assert reply.status_code == 400
    assert reply.json["error"] == code


def test_history_needs_an_analyst_token(client):
    assert client.get("/v1/meters/M1/readings").status_code == 401


@pytest.mark.parametrize("offset", ["+20:00", "-23:59", "+01:00:30.5", "+15:59"])
@pytest.mark.parametrize("form", ["json", "bare"])
def test_a_cursor_with_any_offset_is_a_cursor_or_a_400_never_a_500(client, history, offset, form):
    moment = (at(2) + timedelta(hours=1)).replace(tzinfo=None).isoformat() + offset
    # As a listing writes it, and as an earlier version did (the time itself, base64url).
    crafted = (
        cursors.encode(moment)
        if form == "json"
        else base64.urlsafe_b64encode(moment.encode()).decode().rstrip("=")
    )
    reply = get(client, "/v1/meters/M1/readings", cursor=crafted)
    assert reply.status_code in (200, 400), reply.json
    if reply.status_code == 200:
        after = datetime.fromisoformat(moment)
        assert all(datetime.fromisoformat(r["timestamp"]) > after for r in reply.json["readings"])


def test_csv_cells_a_spreadsheet_would_run_are_made_inert(client, clean_db):
    with clean_db.begin() as conn:
        write_batch(conn, [vehicle_rec("-V1", "=M1", at(0)), vehicle_rec("-V1", "@M2", at(1))])
    reply = client.get(
        "/v1/vehicles/-V1/readings", query_string=ALL, headers={**ANALYST, "Accept": "text/csv"}
    )
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert [(r[0], r[2]) for r in rows[1:]] == [("'-V1", "'=M1"), ("'-V1", "'@M2")]
    assert rows[1][5] == "30.0", "numbers stay numbers"


def test_a_window_past_the_limit_is_refused_with_a_reason(client, history):
    reply = get(
        client,
        "/v1/meters/M1/readings",
        **{"from": T0.isoformat(), "to": (T0 + timedelta(days=7, seconds=1)).isoformat()},
    )
    assert reply.status_code == 400
    assert reply.json["error"] == "window_too_long"
    assert "HISTORY_MAX_DAYS" in reply.json["message"]
    week = {"from": T0.isoformat(), "to": (T0 + timedelta(days=7)).isoformat()}
    assert get(client, "/v1/meters/M1/readings", **week).status_code == 200


def test_a_read_past_its_time_is_stopped_and_answered_503(settings, history, clean_db):
    client = create_app(settings.replace(history_timeout_seconds=0.2)).test_client()
    with clean_db.connect() as blocker:
        # A lock the read must wait for: the wait counts against its statement timeout.
        blocker.execute(text("LOCK TABLE meter_readings IN ACCESS EXCLUSIVE MODE"))
        reply = get(client, "/v1/meters/M1/readings")
        blocker.rollback()
    assert reply.status_code == 503
    assert reply.json["error"] == "query_timeout"
    assert "HISTORY_TIMEOUT_SECONDS" in reply.json["message"]
    assert get(client, "/v1/meters/M1/readings").status_code == 200, "the next read is fine"


def test_a_from_further_back_than_a_read_covers_reads_the_longest_window_from_it(client, history):
    """`from` alone, weeks ago: the read covers HISTORY_MAX_DAYS from it (not a 400 because
    `to` defaulted to now)."""
    reply = client.get(
        "/v1/meters/M1/readings", query_string={"from": T0.isoformat()}, headers=ANALYST
    )
    assert reply.status_code == 200, reply.json
    assert len(reply.json["readings"]) == 7
    assert reply.json["from"] == T0.isoformat().replace("+00:00", "Z")
    assert reply.json["to"] == (T0 + timedelta(days=7)).isoformat().replace("+00:00", "Z")


def test_every_answer_is_byte_for_byte_the_same_once_the_days_are_packed(client, history, clean_db):
    """Packing moves the days into arrays (readings/packed.py); JSON pages, cursors and CSV of
    every device read exactly as before, and a page's cursor from before still continues."""
    from readings import packed

    asks = [
        (path, headers, query)
        for path in ("/v1/meters/M1/readings", "/v1/meters/M2/readings", "/v1/vehicles/V1/readings")
        for headers, query in (
            (ANALYST, {}),
            (ANALYST, {"limit": 2}),
            ({**ANALYST, "Accept": "text/csv"}, {}),
        )
    ]

    def answers():
        return [
            client.get(path, query_string={**ALL, **query}, headers=headers).get_data()
            for path, headers, query in asks
        ]

    before = answers()
    cursor = get(client, "/v1/meters/M1/readings", limit=3).json["nextCursor"]
    with clean_db.begin() as conn:
        assert packed.pack_before(conn, (T0 + timedelta(days=2)).date()) == 14
        assert conn.execute(text("SELECT count(*) FROM meter_readings")).scalar() == 0
    assert answers() == before
    rest = get(client, "/v1/meters/M1/readings", limit=10, cursor=cursor).json["readings"]
    assert [r["timestamp"] for r in rest] == [
        at(m).isoformat().replace("+00:00", "Z") for m in range(3, 7)
    ]

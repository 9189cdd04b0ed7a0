"""The chargers' availability listing: every connector worst first, a page at a time, with the
status it last sent; and what a bad query gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices import availability
from tests.support.constants import ANALYST_TOKEN

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
WINDOW = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}


def m(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_connectors_are_listed_worst_first_page_by_page(client, clean_db):
    with clean_db.begin() as conn:
        availability.opened(conn, "CP1", m(-10))
        availability.seen(conn, "CP1", m(-10), m(70))
        availability.record_status(conn, "CP1:1", m(0), "Available")
        availability.record_status(conn, "CP1:2", m(0), "Available")
        availability.record_status(conn, "CP1:2", m(30), "Faulted", error_code="OverCurrentFailure")
        availability.record_status(conn, "CP1:3", m(90), "Available")  # after the window
    seen, cursor = [], None
    while True:
        query = {**WINDOW, "limit": 1, **({"cursor": cursor} if cursor else {})}
        reply = client.get("/v1/analytics/availability", query_string=query, headers=ANALYST)
        assert reply.status_code == 200, reply.json
        seen += reply.json["items"]
        cursor = reply.json["nextCursor"]
        if cursor is None:
            break
    assert [(i["meterId"], i["uptimeRatio"], i["status"]) for i in seen] == [
        ("CP1:2", 0.5, "Faulted"),
        ("CP1:1", 1.0, "Available"),
    ]
    assert seen[0]["faultedSeconds"] == 30 * 60
    assert seen[0]["statusAt"] == m(30).isoformat().replace("+00:00", "Z")


def test_a_cursor_it_did_not_give_and_a_backwards_window_are_400(client, clean_db):
    bad = client.get(
        "/v1/analytics/availability", query_string={"cursor": "nonsense"}, headers=ANALYST
    )
    assert (bad.status_code, bad.json["error"]) == (400, "invalid_cursor")
    backwards = {"from": WINDOW["to"], "to": WINDOW["from"]}
    reply = client.get("/v1/analytics/availability", query_string=backwards, headers=ANALYST)
    assert reply.status_code == 400
    assert client.get("/v1/analytics/availability").status_code == 401

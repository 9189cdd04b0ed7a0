"""Chargers' availability from their statuses and connections (devices/availability.py), on
real PostgreSQL: the issue's example, connector 0, resends, late statuses, unknown, silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices import availability

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SILENCE = timedelta(minutes=10)  # two heartbeat intervals of 5 minutes


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def over(db, meter="CP1:1", start=0, end=120, now=1000):
    return availability.availability(db, meter, m(start), m(end), SILENCE, m(now))


@pytest.fixture
def connected(db):
    """CP1's socket: open from before t0 to t0+60 min, and again from t0+80 min on."""
    availability.opened(db, "CP1", m(-30))
    availability.closed(db, "CP1", m(-30), m(60))
    availability.opened(db, "CP1", m(80))
    availability.seen(db, "CP1", m(80), m(119))
    return db


def test_the_issues_example_is_70_of_120_minutes_up_with_two_outages(connected):
    db = connected
    availability.record_status(db, "CP1:1", m(0), "Available")
    availability.record_status(
        db, "CP1:1", m(10), "Faulted", error_code="GroundFailure", vendor_error_code="E12"
    )
    availability.record_status(db, "CP1:1", m(40), "Available")
    seen = over(db)
    assert seen.uptime_ratio == 70 / 120
    assert seen.seconds == {
        "up": 70 * 60, "faulted": 30 * 60, "unavailable": 0, "offline": 20 * 60, "unknown": 0,
    }  # fmt: skip
    assert [(o.start, o.end, o.kind, o.error_code, o.vendor_error_code) for o in seen.outages] == [
        (m(10), m(40), "faulted", "GroundFailure", "E12"),
        (m(60), m(80), "offline", None, None),
    ]


def test_a_resend_changes_nothing_and_a_late_status_lands_in_its_place(connected):
    db = connected
    availability.record_status(db, "CP1:1", m(0), "Available")
    availability.record_status(db, "CP1:1", m(40), "Available")
    availability.record_status(db, "CP1:1", m(40), "Available")  # a resend
    # Arrives last, belongs in the middle.
    availability.record_status(db, "CP1:1", m(10), "Unavailable", info="maintenance")
    seen = over(db)
    assert seen.seconds["unavailable"] == 30 * 60
    assert [(o.kind, o.info) for o in seen.outages] == [
        ("unavailable", "maintenance"),
        ("offline", None),
    ]


def test_connector_zero_faulted_holds_for_every_connector(connected):
    db = connected
    for connector in ("CP1:1", "CP1:2"):
        availability.record_status(db, connector, m(0), "Available")
    availability.record_status(db, "CP1", m(20), "Faulted", error_code="PowerMeterFailure")
    availability.record_status(db, "CP1", m(30), "Available")
    for connector in ("CP1:1", "CP1:2", "CP1"):
        seen = over(db, connector, end=50)
        assert seen.seconds["faulted"] == 10 * 60, connector
        assert seen.outages[0].error_code == "PowerMeterFailure"


def test_before_any_status_the_state_is_unknown_and_left_out_of_the_ratio(connected):
    db = connected
    availability.record_status(db, "CP1:1", m(30), "Charging")
    seen = over(db, end=60)
    assert seen.seconds["unknown"] == 30 * 60
    assert seen.uptime_ratio == 1.0
    # A status before the window counts from the window's start.
    assert over(db, start=40, end=60).seconds["up"] == 20 * 60


def test_a_forwarded_charger_is_offline_once_silent_for_two_heartbeat_intervals(db):
    for minute in (0, 4, 8, 12):
        availability.heard_forwarded(db, "FW1", m(minute), SILENCE)
    availability.heard_forwarded(db, "FW1", m(40), SILENCE)  # after 28 minutes of silence
    availability.record_status(db, "FW1:1", m(0), "Available")
    seen = over(db, "FW1:1", end=45, now=45)
    # Heard until 12 + 10 minutes; silent until the message at 40.
    assert seen.outages == [availability.Outage(m(22), m(40), "offline")]
    assert seen.seconds["up"] == (22 + 5) * 60


def test_a_window_reaching_past_now_counts_the_future_as_unknown(connected):
    db = connected
    availability.record_status(db, "CP1:1", m(0), "Available")
    seen = over(db, start=0, end=50, now=30)
    assert seen.seconds["up"] == 30 * 60
    assert seen.seconds["unknown"] == 20 * 60
    assert seen.uptime_ratio == 1.0


def test_the_fleet_now_for_metrics(db):
    now = datetime.now(UTC)
    availability.opened(db, "UP1", now - timedelta(hours=1))  # open, heard a minute ago
    availability.seen(db, "UP1", now - timedelta(hours=1), now - timedelta(minutes=1))
    availability.opened(db, "GONE1", now - timedelta(hours=3))  # closed two hours ago
    availability.closed(db, "GONE1", now - timedelta(hours=3), now - timedelta(hours=2))
    availability.opened(db, "DIED1", now - timedelta(hours=3))  # its process died: silent
    availability.record_status(db, "UP1:1", now - timedelta(hours=1), "Charging")
    availability.record_status(db, "UP1:2", now - timedelta(hours=1), "Faulted")
    availability.record_status(db, "GONE1:1", now - timedelta(minutes=5), "Unavailable")
    availability.record_status(db, "UP1", now - timedelta(hours=1), "Available")  # connector 0
    fleet = availability.fleet_now(db, SILENCE, timedelta(minutes=15))
    assert fleet.connectors_by_status == {"Charging": 1, "Faulted": 1, "Unavailable": 1}
    assert fleet.chargers_connected == 1
    assert fleet.chargers_offline_too_long == 2
    assert fleet.connectors_down_too_long == 1  # UP1:2; GONE1:1 for 5 minutes only

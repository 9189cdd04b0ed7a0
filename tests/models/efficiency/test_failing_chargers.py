"""A charger is failing when its last sessions all charged under the threshold, whoever the
vehicles were; /metrics counts the failing ones and the CLI lists them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from efficiency import alerts, refresh
from readings.writer import write_batch
from tests.support.factories import meter_rec, vehicle_rec
from web.app import create_app

T = datetime(2026, 2, 9, 6, 0, 5, tzinfo=UTC)


def session(vehicle: str, meter: str, hour: int, dc: float) -> list:
    """Five minutes of `vehicle` on `meter` from T + `hour` hours, at efficiency `dc`."""
    out = []
    for m in range(5):
        at = T + timedelta(hours=hour, minutes=m)
        out += [meter_rec(meter, at, kwh=1.0), vehicle_rec(vehicle, meter, at, kwh=dc)]
    return out


@pytest.fixture
def sessions(clean_db):
    records = (
        # M1: three vehicles in a row, each at 0.70: the charger, not the vehicles.
        session("V1", "M1", 0, 0.70) + session("V2", "M1", 1, 0.72) + session("V3", "M1", 2, 0.70)
        # M2: two bad sessions, then a good one.
        + session("V4", "M2", 0, 0.70) + session("V5", "M2", 1, 0.70) + session("V6", "M2", 2, 0.93)
        # M3: a good one long ago, then three bad: its last three count.
        + session("V7", "M3", 0, 0.95) + session("V7", "M3", 1, 0.60)
        + session("V8", "M3", 2, 0.60) + session("V7", "M3", 3, 0.60)
        # M4: only two sessions, both bad.
        + session("V9", "M4", 0, 0.50) + session("V9", "M4", 2, 0.50)
    )  # fmt: skip
    with clean_db.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, T + timedelta(hours=5))
    return clean_db


def test_only_chargers_whose_last_sessions_were_all_low_are_failing(sessions, settings):
    with sessions.begin() as conn:
        assert alerts.judge(conn, below=0.85, sessions=3) == 2
        failing = alerts.failing(conn)
    assert [row["meter_id"] for row in failing] == ["M3", "M1"]  # worst last session first
    assert [float(e) for e in failing[1]["efficiencies"]] == pytest.approx([0.70, 0.72, 0.70])
    with sessions.begin() as conn:
        assert alerts.judge(conn, below=0.85, sessions=2) == 3  # M4 too
        assert alerts.judge(conn, below=0.65, sessions=3) == 1  # M3 only

    app = create_app(settings.replace(charger_alert_sessions=3))
    body = app.test_client().get("/metrics").get_data(as_text=True)
    assert "\nev_chargers_failing 1.0\n" in body
    runner = app.test_cli_runner()
    assert runner.invoke(args=["chargers", "check"]).output.strip() == "2 failing"
    lines = runner.invoke(args=["chargers", "failing"]).output.splitlines()
    assert [orjson.loads(line)["meterId"] for line in lines] == ["M3", "M1"]

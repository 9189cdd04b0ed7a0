"""The efficiency rule's figures as the API serves them, compared with the reference's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from efficiency import meters, reference, refresh
from readings.writer import write_batch
from simulator.fleet import Fleet, FleetSpec
from web.contract import responses

# The seven figures every per-vehicle answer carries.
SEVEN = (
    "vehicleId",
    "timeWindowHours",
    "totalAcConsumedKwh",
    "totalDcDeliveredKwh",
    "chargingEfficiency",
    "averageSoc",
    "averageBatteryTemp",
)


def close(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    return actual.keys() == expected.keys() and all(
        actual[k] == pytest.approx(v, abs=1e-9) if isinstance(v, float) else actual[k] == v
        for k, v in expected.items()
    )


def write_in_parts(
    conn, arrival: list, cuts: list[int], as_of: datetime, refreshes: int | None = None
) -> None:
    """Readings arriving in parts (batches ending at `cuts`), refreshed as they come: after
    every part, or after `refreshes` parts spread over them and after the last (a refresh
    costs twice a batch's write: a hundred of them per example outlast the test's timeout)."""
    parts = [*cuts, len(arrival)]
    every = 1 if refreshes is None else max(1, len(parts) // (refreshes + 1))
    done = 0
    for number, cut in enumerate(parts, start=1):
        if cut > done:
            write_batch(conn, arrival[done:cut])
            done = cut
        if number % every == 0 or number == len(parts):
            refresh.refresh(conn, as_of)


def served(conn) -> dict[str, dict]:
    """Every vehicle's seven figures, as the API answers them after the last refresh."""
    ids = conn.execute(text("SELECT vehicle_id FROM vehicle_efficiency_24h")).scalars()
    rows = {v: refresh.read(conn, v) for v in ids}
    views = {v: responses.performance(row) for v, row in rows.items() if row is not None}
    return {v: {k: view[k] for k in SEVEN} for v, view in views.items() if view}


def served_meters(conn) -> dict[str, dict]:
    """Every meter's figures, as the API answers them after the last refresh."""
    ids = conn.execute(text("SELECT meter_id FROM meter_efficiency_24h")).scalars()
    return {m: responses.meter_item(meters.read(conn, m)) for m in ids}


def served_counts(conn) -> dict[str, dict]:
    """Every vehicle's minutes counted and suspect minutes, as the API answers them."""
    rows = conn.execute(
        text("SELECT vehicle_id, minutes, suspect_minutes FROM vehicle_efficiency_24h")
    ).all()
    return {
        r.vehicle_id: {"minutesCounted": r.minutes, "suspectMinutes": r.suspect_minutes}
        for r in rows
    }


def assert_serves_reference(conn, records: list, as_of: datetime) -> None:
    """The vehicles' figures and counts, and the meters' figures, are the reference's."""
    assert_same(served(conn), reference.efficiency(records, as_of))
    assert served_counts(conn) == reference.counted(records, as_of)
    assert_same(served_meters(conn), reference.meters(records, as_of))


def assert_same(actual: dict[str, dict], expected: dict[str, dict]) -> None:
    assert actual.keys() == expected.keys()
    for vehicle_id, figures in expected.items():
        assert close(actual[vehicle_id], figures), (vehicle_id, actual[vehicle_id], figures)


def fleet_records(start: datetime, hours: int) -> list:
    """A small fleet's readings (shared meters, duplicates, gaps), the same every time."""
    spec = FleetSpec(
        meters=10,
        vehicles=14,
        minutes=hours * 60,
        start=start,
        seed=11,
        share=0.2,
        duplicate=0.05,
        offline=0.01,
        session_minutes=(5, 40),
    )
    return [r.record() for _, readings in Fleet(spec).minutes() for r in readings]


def assert_rollups_sum_the_minutes(conn) -> None:
    """The hourly rollups hold exactly the kept minutes of the sealed hours (those before the
    hour the refreshed window ends in) summed per hour and (meter, vehicle)."""
    through, window_end = conn.execute(
        text("SELECT hours_through, window_end FROM efficiency_window")
    ).one()
    assert through == window_end.replace(minute=0) or through > window_end
    columns = "ac_kwh, dc_kwh, soc_hundredths_sum, battery_temp_hundredths_sum, readings"
    kept = conn.execute(
        text(
            f"SELECT hour, meter_id, vehicle_id, {columns}, suspect_minutes, minutes, "
            "meter_minutes FROM efficiency_hourly WHERE hour < :t ORDER BY 1, 2, 3"
        ),
        {"t": through},
    ).all()
    summed = conn.execute(
        text(
            "SELECT date_bin('1 hour', minute, timestamptz 'epoch'), meter_id, vehicle_id, "
            + ", ".join(f"sum({c})" for c in columns.split(", "))
            + ", sum(suspect_minutes), sum(minutes), count(*) "
            "FROM vehicle_minute_contributions WHERE minute < :t GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ),
        {"t": through},
    ).all()
    assert summed, "no minute of a sealed hour kept: nothing to compare"
    assert [tuple(r) for r in kept] == [tuple(r) for r in summed]

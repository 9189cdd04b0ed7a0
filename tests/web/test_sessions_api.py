"""Charging sessions through the API: cut at gaps, joined by a late reading that bridges one,
their energy what the rule keeps, by vehicle and by meter, paged and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from devices import transactions
from efficiency import refresh
from readings.writer import write_batch
from tests.support.constants import ANALYST_TOKEN
from tests.support.factories import meter_rec, meter_reg, vehicle_rec

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
T = datetime(2026, 2, 9, 10, 0, 5, tzinfo=UTC)
WINDOW = "from=2026-02-09T00:00:00Z&to=2026-02-10T00:00:00Z"

pytestmark = pytest.mark.usefixtures("clean_db")


def charge(vehicle: str, meter: str, minutes: range, dc: float = 0.9, soc0: int = 20) -> list:
    out = []
    for m in minutes:
        at = T + timedelta(minutes=m)
        out.append(meter_rec(meter, at, kwh=1.0))
        out.append(vehicle_rec(vehicle, meter, at, kwh=dc, soc=soc0 + m))
    return out


def write(engine, records: list) -> None:
    with engine.begin() as conn:
        write_batch(conn, records)
        refresh.refresh(conn, T + timedelta(hours=2))


def sessions_of(client, path: str, query: str = WINDOW) -> list[dict]:
    reply = client.get(f"{path}/sessions?{query}", headers=ANALYST)
    assert reply.status_code == 200, reply.json
    return reply.json["sessions"]


def test_a_gap_longer_than_ten_minutes_cuts_a_session_and_a_late_reading_joins_them(
    clean_db, client
):
    write(clean_db, charge("V1", "M1", range(0, 5)) + charge("V1", "M1", range(16, 19)))
    first, second = sessions_of(client, "/v1/vehicles/V1")
    assert (first["start"], first["end"]) == ("2026-02-09T10:00:05Z", "2026-02-09T10:04:05Z")
    assert (second["start"], second["end"]) == ("2026-02-09T10:16:05Z", "2026-02-09T10:18:05Z")
    assert (first["minutesSeen"], first["minutesCounted"], first["coverage"]) == (5, 5, 1.0)
    assert first["acConsumedKwh"] == pytest.approx(5.0)
    assert first["dcDeliveredKwh"] == pytest.approx(4.5)
    assert first["energyLostKwh"] == pytest.approx(0.5)
    assert first["chargingEfficiency"] == pytest.approx(0.9)
    assert (first["socStart"], first["socEnd"]) == (20, 24)

    # 10:10:05 is within ten minutes of both: one session now.
    write(clean_db, [vehicle_rec("V1", "M1", T + timedelta(minutes=10), kwh=0.2, soc=30)])
    (joined,) = sessions_of(client, "/v1/vehicles/V1")
    assert (joined["start"], joined["end"]) == ("2026-02-09T10:00:05Z", "2026-02-09T10:18:05Z")
    assert (joined["minutesSeen"], joined["minutesCounted"]) == (9, 8)  # no meter reading at :10
    assert (joined["socStart"], joined["socEnd"]) == (20, 38)
    assert joined["coverage"] == pytest.approx(8 / 9)


def test_a_shared_minute_is_seen_not_counted_and_the_meter_lists_both_vehicles(clean_db, client):
    records = charge("V1", "M1", range(0, 4)) + charge("V2", "M1", range(20, 23), dc=0.8)
    records.append(vehicle_rec("V2", "M1", T + timedelta(minutes=3, seconds=10), kwh=0.1))
    write(clean_db, records)
    (v1,) = sessions_of(client, "/v1/vehicles/V1")
    assert (v1["minutesSeen"], v1["minutesCounted"]) == (4, 3)
    by_meter = sessions_of(client, "/v1/meters/M1")
    assert [(s["vehicleId"], s["start"][11:19]) for s in by_meter] == [
        ("V1", "10:00:05"),
        ("V2", "10:03:15"),
        ("V2", "10:20:05"),
    ]


def test_late_readings_move_the_figures_of_a_session_they_do_not_change(clean_db, client):
    # Minute 6 has V1's reading but not yet its meter's: seen, not counted.
    records = charge("V1", "M1", range(0, 6))
    records.append(vehicle_rec("V1", "M1", T + timedelta(minutes=6), kwh=0.9, soc=26))
    write(clean_db, records)
    (before,) = sessions_of(client, "/v1/vehicles/V1")
    assert (before["minutesSeen"], before["minutesCounted"]) == (7, 6)
    assert before["acConsumedKwh"] == pytest.approx(6.0)

    # Late, a second vehicle names M1 in minute 2 (no longer V1's alone), and M1's reading of
    # minute 6 arrives: V1's session keeps its bounds, and its figures move by both.
    write(
        clean_db,
        [
            vehicle_rec("V2", "M1", T + timedelta(minutes=2, seconds=20), kwh=0.1),
            meter_rec("M1", T + timedelta(minutes=6), kwh=2.0),
        ],
    )
    (after,) = sessions_of(client, "/v1/vehicles/V1")
    assert (after["start"], after["end"]) == (before["start"], before["end"])
    assert (after["minutesSeen"], after["minutesCounted"]) == (7, 6)
    assert after["acConsumedKwh"] == pytest.approx(6.0 - 1.0 + 2.0)
    assert after["dcDeliveredKwh"] == pytest.approx(6 * 0.9 - 0.9 + 0.9)


def test_a_session_names_the_ocpp_transaction_its_charger_reported(clean_db, client):
    write(clean_db, charge("V1", "CP1:2", range(0, 4)) + charge("V1", "CP1:1", range(20, 24)))
    with clean_db.begin() as conn:
        two = transactions.start(conn, "CP1", 2, "TAG-7", T - timedelta(minutes=1), Decimal(100))
        one = transactions.start(conn, "CP1", 1, "TAG-8", T - timedelta(hours=3), Decimal(50))
        transactions.stop(conn, "CP1", one, T - timedelta(hours=2), Decimal(60), None)
    on = {s["meterId"]: s for s in sessions_of(client, "/v1/vehicles/V1")}
    # CP1's connector 2 began a transaction a minute before; connector 1's had ended hours before.
    assert (on["CP1:2"]["transactionId"], on["CP1:2"]["idTag"]) == (str(two), "TAG-7")
    assert (on["CP1:1"]["transactionId"], on["CP1:1"]["idTag"]) == (None, None)


def test_a_chargers_transaction_without_vehicle_telemetry_is_a_session_of_its_meter(
    clean_db, client
):
    """CP2's connector 1 charged twice with no vehicle reporting (a finished transaction and one
    still running); connector 2 charged V1, whose session names its transaction and is not
    listed twice."""
    registers = [meter_reg("CP2:1", T + timedelta(minutes=m), f"{100 + m}") for m in range(0, 6)]
    registers += [meter_reg("CP2:1", T + timedelta(minutes=m), f"{100 + m}") for m in range(30, 33)]
    write(clean_db, registers + charge("V1", "CP2:2", range(0, 3)))
    with clean_db.begin() as conn:
        done = transactions.start(conn, "CP2", 1, "TAG-1", T, Decimal(100))
        transactions.stop(conn, "CP2", done, T + timedelta(minutes=5), Decimal(105), None)
        later = T + timedelta(minutes=30)
        running = transactions.start(conn, "CP2", 1, "TAG-2", later, Decimal(130))
        with_vehicle = transactions.start(conn, "CP2", 2, "TAG-3", T, Decimal(7))

    first, second = sessions_of(client, "/v1/meters/CP2:1")
    assert first["vehicleId"] is None
    assert (first["start"], first["end"]) == ("2026-02-09T10:00:05Z", "2026-02-09T10:05:05Z")
    assert (first["transactionId"], first["idTag"]) == (str(done), "TAG-1")
    assert first["transactionEnergyKwh"] == pytest.approx(5.0)
    assert (first["minutesSeen"], first["minutesCounted"], first["coverage"]) == (6, 0, 0.0)
    assert (first["acConsumedKwh"], first["chargingEfficiency"]) == (0.0, None)
    assert (first["socStart"], first["socEnd"]) == (None, None)
    # Still running: it ends, so far, at its meter's last reading, and has no register at stop.
    assert (second["transactionId"], second["idTag"]) == (str(running), "TAG-2")
    assert (second["end"], second["minutesSeen"]) == ("2026-02-09T10:32:05Z", 3)
    assert second["transactionEnergyKwh"] is None

    (charged,) = sessions_of(client, "/v1/meters/CP2:2")
    assert (charged["vehicleId"], charged["transactionId"]) == ("V1", str(with_vehicle))
    assert charged["minutesCounted"] == 3
    assert [s["meterId"] for s in sessions_of(client, "/v1/vehicles/V1")] == ["CP2:2"]
    as_csv = client.get(
        f"/v1/meters/CP2:1/sessions?{WINDOW}", headers={**ANALYST, "Accept": "text/csv"}
    )
    table = csv.DictReader(io.StringIO(as_csv.get_data(as_text=True)))
    assert [(r["vehicleId"], r["transactionEnergyKwh"]) for r in table] == [("", "5.0"), ("", "")]
    page = client.get(f"/v1/meters/CP2:1/sessions?{WINDOW}&limit=1", headers=ANALYST).json
    cursor = page["nextCursor"]
    rest = sessions_of(client, "/v1/meters/CP2:1", f"{WINDOW}&limit=1&cursor={cursor}")
    assert [s["transactionId"] for s in page["sessions"] + rest] == [str(done), str(running)]


@pytest.mark.parametrize(
    ("registers", "energy"),
    [
        # A reset: the counter restarted at 0.03 kWh; stop minus start would be -4.91.
        (["5.0", "5.1", "0.03", "0.09"], 0.19),
        # A glitch: one low reading between two higher ones is skipped.
        (["5.0", "5.1", "0", "5.3"], 0.3),
        # Readings minutes apart (past the 90 s of a minute's interval) still count.
        (["5.0", None, None, "7.5"], 2.5),
    ],
)
def test_a_transactions_energy_follows_the_register_rule(clean_db, client, registers, energy):
    minutes = [m * 3 for m in range(len(registers))]
    write(
        clean_db,
        [
            meter_reg("CP3:1", T + timedelta(minutes=m), r)
            for m, r in zip(minutes, registers, strict=True)
            if r is not None
        ],
    )
    with clean_db.begin() as conn:
        done = transactions.start(conn, "CP3", 1, "TAG", T, Decimal(registers[0]))
        end = T + timedelta(minutes=minutes[-1])
        transactions.stop(conn, "CP3", done, end, Decimal(registers[-1]), None)
    (session,) = sessions_of(client, "/v1/meters/CP3:1")
    assert session["transactionEnergyKwh"] == pytest.approx(energy)


def test_pages_and_csv_hold_the_same_sessions(clean_db, client):
    records = []
    for n in range(5):
        records += charge("V1", f"M{n}", range(n * 20, n * 20 + 3))
    write(clean_db, records)
    pages, cursor = [], None
    while True:
        query = WINDOW + "&limit=2" + (f"&cursor={cursor}" if cursor else "")
        reply = client.get(f"/v1/vehicles/V1/sessions?{query}", headers=ANALYST).json
        pages += reply["sessions"]
        cursor = reply["nextCursor"]
        if cursor is None:
            break
    assert [s["meterId"] for s in pages] == ["M0", "M1", "M2", "M3", "M4"]
    reply = client.get(
        f"/v1/vehicles/V1/sessions?{WINDOW}", headers={**ANALYST, "Accept": "text/csv"}
    )
    assert reply.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))
    assert [row["meterId"] for row in table] == [s["meterId"] for s in pages]
    assert [float(row["dcDeliveredKwh"]) for row in table] == pytest.approx(
        [s["dcDeliveredKwh"] for s in pages]
    )


def test_bad_requests(client):
    assert client.get("/v1/vehicles/V1/sessions?cursor=x", headers=ANALYST).status_code == 400
    bad = client.get("/v1/vehicles/V1/sessions?from=2026-02-10T00:00:00Z&to=2026-02-09T00:00:00Z")
    assert bad.status_code == 401
    reply = client.get(
        "/v1/meters/M1/sessions?from=2026-02-10T00:00:00Z&to=2026-02-09T00:00:00Z",
        headers=ANALYST,
    )
    assert reply.json["error"] == "invalid_query"
    long = client.get(
        "/v1/meters/M1/sessions?from=2020-01-01T00:00:00Z&to=2026-02-09T00:00:00Z",
        headers=ANALYST,
    )
    assert long.json["error"] == "window_too_long"
    assert client.get("/v1/meters/M1/sessions", headers=ANALYST).json["sessions"] == []

"""Charging sessions as the API serves them, and as the session rule says naively."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from efficiency import sessions
from efficiency.reference import (
    VEHICLE_METER,
    VEHICLE_SOC,
    _hundredths,
    kept_minutes,
    kept_readings,
)
from models.kinds import VEHICLE
from readings.records import iso_z
from web.api.sessions import item

EPOCH_0, FAR = sessions.FIRST[0], datetime(9000, 1, 1, tzinfo=UTC)


def served_sessions(conn) -> list[dict[str, Any]]:
    """Every vehicle's sessions, oldest first, as GET /v1/vehicles/<id>/sessions answers."""
    ids = conn.execute(text("SELECT DISTINCT vehicle_id FROM charging_sessions ORDER BY 1"))
    return [
        item(row)
        for v in ids.scalars()
        for row in sessions.page(
            conn, "vehicle_id", v, sessions.FIRST[0], FAR, sessions.FIRST, None
        )
    ]


def reference_sessions(records: list, gap: timedelta = timedelta(seconds=600)) -> list[dict]:
    """Per vehicle and meter, its readings cut where two are more than `gap` apart; each stretch
    with the vehicle's kept minutes on that meter within it, summed."""
    readings: dict[tuple[str, str], list[tuple[datetime, Any]]] = defaultdict(list)
    for (kind, device, moment), r in kept_readings(records).items():
        if kind == VEHICLE.code:
            readings[(device, r[VEHICLE_METER])].append((moment, r))
    kept = defaultdict(list)
    for k in kept_minutes(records, None):
        kept[(k.vehicle, k.meter)].append(k)
    out = []
    for (vehicle_id, meter_id), stretch in readings.items():
        stretch.sort(key=lambda pair: pair[0])
        pieces: list[list[tuple[datetime, Any]]] = [[stretch[0]]]
        for moment, r in stretch[1:]:
            if moment - pieces[-1][-1][0] > gap:
                pieces.append([])
            pieces[-1].append((moment, r))
        for piece in pieces:
            start, end = piece[0][0], piece[-1][0]
            first_minute = start.replace(second=0, microsecond=0)
            counted = [k for k in kept[(vehicle_id, meter_id)] if first_minute <= k.minute <= end]
            ac = sum((k.ac for k in counted), Decimal(0))
            dc = sum((k.dc for k in counted), Decimal(0))
            seen = {m.replace(second=0, microsecond=0) for m, _ in piece}
            out.append(
                {
                    "vehicleId": vehicle_id,
                    "meterId": meter_id,
                    "start": start,
                    "end": end,
                    "minutesSeen": len(seen),
                    "minutesCounted": len(counted),
                    "coverage": len(counted) / len(seen),
                    "acConsumedKwh": float(ac),
                    "dcDeliveredKwh": float(dc),
                    "chargingEfficiency": float(dc / ac) if ac else None,
                    "energyLostKwh": float(ac - dc),
                    "socStart": _hundredths(piece[0][1][VEHICLE_SOC]) / 100,
                    "socEnd": _hundredths(piece[-1][1][VEHICLE_SOC]) / 100,
                    "suspectMinutes": sum(k.dc > k.ac for k in counted),
                    "transactionId": None,
                    "idTag": None,
                    "transactionEnergyKwh": None,
                }
            )
    return sorted(out, key=lambda s: (s["vehicleId"], s["start"], s["meterId"]))


def assert_sessions_match(conn, records: list) -> None:
    served = served_sessions(conn)
    expected = reference_sessions(records)
    for s in expected:
        s["start"], s["end"] = iso_z(s["start"]), iso_z(s["end"])
    assert len(served) == len(expected), (served, expected)
    for got, want in zip(served, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=1e-9), (key, got, want)
            else:
                assert got[key] == value, (key, got, want)

"""docs/DESIGN.md's efficiency rule written naively, to check the real one against.

It works on the raw readings in memory, with none of the refresh's incremental machinery. Values
are rounded the way the history columns store them (energy to 6 decimals, SOC and temperature
to hundredths, half away from zero), so both sides see the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.kinds import METER, VEHICLE
from models.readings import AT, DEVICE_ID, KIND, Record

WINDOW = timedelta(hours=24)
METER_KWH = METER.position("kwhConsumedAc")
VEHICLE_METER = VEHICLE.position("meterId")
VEHICLE_KWH = VEHICLE.position("kwhDeliveredDc")
VEHICLE_SOC = VEHICLE.position("soc")
VEHICLE_TEMP = VEHICLE.position("batteryTemp")


def _energy(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def _hundredths(x: float) -> int:
    return int((Decimal(repr(x)) * 100).quantize(Decimal(1), ROUND_HALF_UP))


def _order(r: Record) -> tuple[Any, ...]:
    if r[KIND] == METER.code:
        return (_energy(r[METER_KWH]), _hundredths(r[METER_KWH + 1]))
    return (
        _energy(r[VEHICLE_KWH]),
        r[VEHICLE_METER],
        _hundredths(r[VEHICLE_SOC]),
        _hundredths(r[VEHICLE_TEMP]),
    )


def efficiency(records: list[Record], as_of: datetime) -> dict[str, dict[str, Any]]:
    """{vehicleId: the API's seven fields} for vehicles with at least one kept minute."""
    end = as_of.astimezone(UTC).replace(second=0, microsecond=0)
    start = end - WINDOW

    # Rule 5: a reading counts once however often it arrived; of two different ones with one
    # identity, the least is kept (energy first, then the rest in record order).
    seen: dict[tuple[str, str, datetime], Record] = {}
    for r in records:
        identity = (r[KIND], r[DEVICE_ID], datetime.fromisoformat(r[AT]))
        kept = seen.get(identity)
        if kept is None or _order(r) < _order(kept):
            seen[identity] = r

    meter_ac: dict[tuple[str, datetime], Decimal] = defaultdict(Decimal)
    vehicle_rows: dict[tuple[str, str, datetime], list[Record]] = defaultdict(list)
    for (kind, device, moment), r in seen.items():
        if not start <= moment < end:
            continue
        minute = moment.replace(second=0, microsecond=0)
        if kind == METER.code:
            meter_ac[(device, minute)] += _energy(r[METER_KWH])
        else:
            vehicle_rows[(device, r[VEHICLE_METER], minute)].append(r)

    vehicles_on: dict[tuple[str, datetime], set[str]] = defaultdict(set)
    for vehicle_id, meter_id, minute in vehicle_rows:
        vehicles_on[(meter_id, minute)].add(vehicle_id)

    totals: dict[str, dict[str, Any]] = {}
    for (vehicle_id, meter_id, minute), rows in vehicle_rows.items():
        exclusive = vehicles_on[(meter_id, minute)] == {vehicle_id}
        if not exclusive or (meter_id, minute) not in meter_ac:
            continue
        t = totals.setdefault(
            vehicle_id, {"ac": Decimal(0), "dc": Decimal(0), "soc": 0, "temp": 0, "n": 0}
        )
        t["ac"] += meter_ac[(meter_id, minute)]
        t["dc"] += sum(_energy(r[VEHICLE_KWH]) for r in rows)
        t["soc"] += sum(_hundredths(r[VEHICLE_SOC]) for r in rows)
        t["temp"] += sum(_hundredths(r[VEHICLE_TEMP]) for r in rows)
        t["n"] += len(rows)

    return {
        vehicle_id: {
            "vehicleId": vehicle_id,
            "timeWindowHours": 24,
            "totalAcConsumedKwh": float(t["ac"]),
            "totalDcDeliveredKwh": float(t["dc"]),
            "chargingEfficiency": float(t["dc"] / t["ac"]) if t["ac"] else None,
            "averageSoc": float(Decimal(t["soc"]) / t["n"] / 100),
            "averageBatteryTemp": float(Decimal(t["temp"]) / t["n"] / 100),
        }
        for vehicle_id, t in totals.items()
    }

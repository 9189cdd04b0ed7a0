"""docs/DESIGN.md's efficiency rule and register rule written naively, to check the real ones
against.

It works on the raw readings in memory, with none of the refresh's incremental machinery nor
the writer's neighbourhoods. Values are rounded the way the history columns store them (energy
to 6 decimals, SOC and temperature to hundredths, half away from zero), so both sides see the
same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.kinds import METER, VEHICLE
from readings.records import AT, DEVICE_ID, KIND, Record

WINDOW = timedelta(hours=24)
REGISTER_GAP = timedelta(seconds=90)
MAX_KWH = Decimal(1000)
METER_KWH = METER.position("kwhConsumedAc")
VEHICLE_METER = VEHICLE.position("meterId")
VEHICLE_KWH = VEHICLE.position("kwhDeliveredDc")
VEHICLE_SOC = VEHICLE.position("soc")
VEHICLE_TEMP = VEHICLE.position("batteryTemp")


def _energy(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def _hundredths(x: float) -> int:
    return int((Decimal(repr(x)) * 100).quantize(Decimal(1), ROUND_HALF_UP))


def _register(r: Record) -> Decimal | None:
    kind = METER if r[KIND] == METER.code else VEHICLE
    value = kind.register_of(r)
    return None if value is None else Decimal(value)


def _or_below(value: Any) -> Any:
    """A missing value compares below every stored one."""
    return -1 if value is None else value


def _order(r: Record) -> tuple[Any, ...]:
    """Rule 5's order: the register, the interval's energy when sent, then the rest."""
    register = _register(r)
    if r[KIND] == METER.code:
        sent = r[METER_KWH] if register is None else None
        voltage = r[METER_KWH + 1]
        return (
            _or_below(register),
            _or_below(None if sent is None else _energy(sent)),
            _or_below(None if voltage is None else _hundredths(voltage)),
        )
    sent = r[VEHICLE_KWH] if register is None else None
    return (
        _or_below(register),
        _or_below(None if sent is None else _energy(sent)),
        r[VEHICLE_METER],
        _hundredths(r[VEHICLE_SOC]),
        _hundredths(r[VEHICLE_TEMP]),
    )


Identity = tuple[str, str, datetime]


def kept_readings(records: list[Record]) -> dict[Identity, Record]:
    """Rule 5: a reading counts once however often it arrived; of two different ones with one
    identity, the least is kept."""
    seen: dict[Identity, Record] = {}
    for r in records:
        identity = (r[KIND], r[DEVICE_ID], datetime.fromisoformat(r[AT]))
        kept = seen.get(identity)
        if kept is None or _order(r) < _order(kept):
            seen[identity] = r
    return seen


def intervals(
    seen: dict[Identity, Record], gap: timedelta = REGISTER_GAP, max_kwh: Decimal = MAX_KWH
) -> dict[Identity, Decimal | None]:
    """Every kept reading's interval energy: as sent, or derived from its register by
    docs/DESIGN.md's "Registers" (None: not known)."""
    by_device: dict[tuple[str, str], list[tuple[datetime, Record]]] = defaultdict(list)
    for (kind, device, moment), r in seen.items():
        by_device[(kind, device)].append((moment, r))
    out: dict[Identity, Decimal | None] = {}
    for (kind, device), readings in by_device.items():
        readings.sort(key=lambda pair: pair[0])
        timeline = _Timeline([m for m, _ in readings], [_register(r) for _, r in readings], gap)
        for i, (moment, r) in enumerate(readings):
            if timeline.registers[i] is None:
                out[(kind, device, moment)] = _energy(
                    r[METER_KWH if kind == METER.code else VEHICLE_KWH]
                )
            else:
                value = timeline.interval(i)
                out[(kind, device, moment)] = value if value is None or value <= max_kwh else None
    return out


class _Timeline:
    """One device's readings in time order: their moments and registers (None: interval-style)."""

    def __init__(self, times: list[datetime], registers: list[Decimal | None], gap: timedelta):
        self.times, self.registers, self.gap = times, registers, gap

    def register(self, i: int) -> Decimal:
        value = self.registers[i]
        assert value is not None
        return value

    def near(self, i: int, j: int) -> bool:
        """Both readings exist, both carry a register, and they are within the gap."""
        if min(i, j) < 0 or max(i, j) >= len(self.times):
            return False
        if self.registers[i] is None or self.registers[j] is None:
            return False
        return abs(self.times[j] - self.times[i]) <= self.gap

    def drop(self, i: int) -> bool:
        return self.near(i - 1, i) and self.register(i) < self.register(i - 1)

    def glitch(self, i: int) -> bool:
        return self.drop(i) and self.near(i, i + 1) and self.register(i + 1) >= self.register(i - 1)

    def interval(self, i: int) -> Decimal | None:
        if not self.near(i - 1, i) or self.glitch(i):
            return None  # rules 1 to 3: nothing in reach before it, or a glitch itself
        if self.glitch(i - 1):  # against the reading before the glitch
            if self.times[i] - self.times[i - 2] > self.gap:
                return None
            return self.register(i) - self.register(i - 2)
        if self.drop(i):
            return self.register(i)  # a reset
        return self.register(i) - self.register(i - 1)


class Kept:
    """A kept (meter, minute): its vehicle and what it sums."""

    def __init__(self, vehicle: str, meter: str, minute: datetime, rows: list[Record]) -> None:
        self.vehicle, self.meter, self.minute, self.rows = vehicle, meter, minute, rows
        self.ac = Decimal(0)
        self.dc = Decimal(0)


def kept_minutes(records: list[Record], as_of: datetime | None) -> list[Kept]:
    """Every kept (meter, minute) of the 24 h window ending at as_of (None: of all time)."""
    if as_of is None:
        start, end = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    else:
        end = as_of.astimezone(UTC).replace(second=0, microsecond=0)
        start = end - WINDOW

    seen = kept_readings(records)
    energy = intervals(seen)

    meter_ac: dict[tuple[str, datetime], Decimal] = defaultdict(Decimal)
    # Rule 5 of "Registers": a minute is kept only when every reading it sums is known.
    unknown: set[tuple[str, ...] | tuple[Any, ...]] = set()
    vehicle_rows: dict[tuple[str, str, datetime], list[Record]] = defaultdict(list)
    for (kind, device, moment), r in seen.items():
        if not start <= moment < end:
            continue
        minute = moment.replace(second=0, microsecond=0)
        kwh = energy[(kind, device, moment)]
        if kind == METER.code:
            meter_ac[(device, minute)] += kwh or 0
            if kwh is None:
                unknown.add((device, minute))
        else:
            vehicle_rows[(device, r[VEHICLE_METER], minute)].append(r)
            if kwh is None:
                unknown.add((device, r[VEHICLE_METER], minute))

    vehicles_on: dict[tuple[str, datetime], set[str]] = defaultdict(set)
    for vehicle_id, meter_id, minute in vehicle_rows:
        vehicles_on[(meter_id, minute)].add(vehicle_id)

    out = []
    for (vehicle_id, meter_id, minute), rows in vehicle_rows.items():
        exclusive = vehicles_on[(meter_id, minute)] == {vehicle_id}
        if not exclusive or (meter_id, minute) not in meter_ac:
            continue
        if (meter_id, minute) in unknown or (vehicle_id, meter_id, minute) in unknown:
            continue
        kept = Kept(vehicle_id, meter_id, minute, rows)
        kept.ac = meter_ac[(meter_id, minute)]
        kept.dc = sum(
            (
                energy[(VEHICLE.code, vehicle_id, datetime.fromisoformat(r[AT]))] or Decimal(0)
                for r in rows
            ),
            Decimal(0),
        )
        out.append(kept)
    return out


def efficiency(records: list[Record], as_of: datetime) -> dict[str, dict[str, Any]]:
    """{vehicleId: the API's seven fields} for vehicles with at least one kept minute."""
    totals: dict[str, dict[str, Any]] = {}
    for kept in kept_minutes(records, as_of):
        t = totals.setdefault(
            kept.vehicle, {"ac": Decimal(0), "dc": Decimal(0), "soc": 0, "temp": 0, "n": 0}
        )
        t["ac"] += kept.ac
        t["dc"] += kept.dc
        t["soc"] += sum(_hundredths(r[VEHICLE_SOC]) for r in kept.rows)
        t["temp"] += sum(_hundredths(r[VEHICLE_TEMP]) for r in kept.rows)
        t["n"] += len(kept.rows)

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


def counted(records: list[Record], as_of: datetime) -> dict[str, dict[str, int]]:
    """{vehicleId: minutesCounted (distinct minutes), suspectMinutes (kept (meter, minute)s
    with DC over AC)}."""
    minutes: dict[str, set[datetime]] = defaultdict(set)
    suspect: dict[str, int] = defaultdict(int)
    for kept in kept_minutes(records, as_of):
        minutes[kept.vehicle].add(kept.minute)
        suspect[kept.vehicle] += kept.dc > kept.ac
    return {v: {"minutesCounted": len(m), "suspectMinutes": suspect[v]} for v, m in minutes.items()}


def meters(records: list[Record], as_of: datetime) -> dict[str, dict[str, Any]]:
    """{meterId: a meter's figures as the API answers them} over the kept (meter, minute)s."""
    kept_by: dict[str, list[Kept]] = defaultdict(list)
    for kept in kept_minutes(records, as_of):
        kept_by[kept.meter].append(kept)
    out = {}
    for meter_id, minutes in kept_by.items():
        ac = sum((k.ac for k in minutes), Decimal(0))
        dc = sum((k.dc for k in minutes), Decimal(0))
        out[meter_id] = {
            "meterId": meter_id,
            "timeWindowHours": 24,
            "totalAcConsumedKwh": float(ac),
            "totalDcDeliveredKwh": float(dc),
            "chargingEfficiency": float(dc / ac) if ac else None,
            "vehiclesServed": len({k.vehicle for k in minutes}),
            "minutesCounted": len(minutes),
            "readingsCounted": sum(len(k.rows) for k in minutes),
            "suspectMinutes": sum(k.dc > k.ac for k in minutes),
        }
    return out

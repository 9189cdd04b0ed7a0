"""A realistic charging fleet, minute by minute, as the readings its devices would send.

Vehicles hold charging sessions on meters, sometimes two at once on one meter, and move between
meters between sessions; SOC rises with the energy delivered; each vehicle has an efficiency
(a few are faulty); devices report at their own second of the minute with jitter, retry (a
duplicate) and go offline, flushing their buffer late. Deterministic for a given seed.

The same generator feeds the simulator command, the benchmark and the tests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from readings.records import Record, meter_record, vehicle_record


@dataclass(frozen=True)
class FleetSpec:
    meters: int = 10
    vehicles: int = 10
    minutes: int = 60
    start: datetime = field(default_factory=lambda: datetime(2026, 2, 10, 12, 0, tzinfo=UTC))
    seed: int = 1
    # Chance a new session joins a meter already in use (both vehicles' minutes are excluded).
    share: float = 0.1
    # Chance a reading is sent twice (a device retrying after a timeout).
    duplicate: float = 0.02
    # Chance per minute a device goes offline, buffering; its readings arrive when it returns.
    offline: float = 0.005
    faulty: float = 0.1
    session_minutes: tuple[int, int] = (20, 90)
    idle_minutes: tuple[int, int] = (0, 30)


@dataclass
class Reading:
    kind: str  # "meter" | "vehicle"
    device: str
    meter: str
    at: datetime
    kwh: float
    voltage: float = 0.0
    soc: float = 0.0
    battery_temp: float = 0.0

    def wire(self) -> dict[str, Any]:
        stamp = self.at.isoformat()
        if self.kind == "meter":
            return {
                "meterId": self.device,
                "kwhConsumedAc": self.kwh,
                "voltage": self.voltage,
                "timestamp": stamp,
            }
        return {
            "vehicleId": self.device,
            "meterId": self.meter,
            "kwhDeliveredDc": self.kwh,
            "soc": self.soc,
            "batteryTemp": self.battery_temp,
            "timestamp": stamp,
        }

    def record(self) -> Record:
        if self.kind == "meter":
            return meter_record(self.device, self.at, self.kwh, self.voltage)
        return vehicle_record(
            self.device, self.meter, self.at, self.kwh, self.soc, self.battery_temp
        )


@dataclass
class _Vehicle:
    id: str
    efficiency: float
    power_kw: float
    soc: float
    temp: float
    second: float
    meter: str | None = None
    minutes_left: int = 0
    offline_until: int = -1
    buffer: list[Reading] = field(default_factory=list)


@dataclass
class _Meter:
    id: str
    second: float
    offline_until: int = -1
    buffer: list[Reading] = field(default_factory=list)


class Fleet:
    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)  # noqa: S311 - a simulation, not a secret
        rng = self.rng
        self.meters = [_Meter(f"M{i:05d}", rng.uniform(0, 59)) for i in range(spec.meters)]
        self.load = {m.id: 0 for m in self.meters}
        self.vehicles = []
        for i in range(spec.vehicles):
            faulty = rng.random() < spec.faulty
            self.vehicles.append(
                _Vehicle(
                    id=f"V{i:05d}",
                    efficiency=rng.uniform(0.70, 0.79) if faulty else rng.uniform(0.88, 0.93),
                    power_kw=rng.choice((7.4, 11.0, 22.0, 50.0)),
                    soc=rng.uniform(10, 60),
                    temp=rng.uniform(20, 30),
                    second=rng.uniform(0, 59),
                    minutes_left=-rng.randint(0, 10),
                )
            )

    @property
    def efficiencies(self) -> dict[str, float]:
        """The efficiency each vehicle was given: what the service should report for it."""
        return {v.id: v.efficiency for v in self.vehicles}

    def minutes(self) -> Iterator[tuple[int, list[Reading]]]:
        """(minute, readings that arrive during that minute), one minute at a time."""
        for minute in range(self.spec.minutes):
            yield minute, self._minute(minute)
        # Whatever devices still buffer arrives at the end.
        tail = [r for m in self.meters for r in m.buffer]
        tail += [r for v in self.vehicles for r in v.buffer]
        if tail:
            yield self.spec.minutes, tail

    def _minute(self, minute: int) -> list[Reading]:
        rng = self.rng
        base = self.spec.start + timedelta(minutes=minute)
        for v in self.vehicles:
            self._advance_session(v)
        arriving: list[Reading] = []
        drawn_ac: dict[str, float] = {}
        for v in self.vehicles:
            if v.meter is None:
                continue
            dc = round(v.power_kw / 60 * rng.uniform(0.9, 1.05) * (1 - v.soc / 150), 4)
            drawn_ac[v.meter] = drawn_ac.get(v.meter, 0.0) + dc / v.efficiency
            v.soc = min(100.0, v.soc + dc / 0.6)  # a 60 kWh battery
            v.temp = min(45.0, v.temp + rng.uniform(-0.05, 0.1))
            when = base + timedelta(seconds=_jitter(rng, v.second))
            reading = Reading(
                "vehicle",
                v.id,
                v.meter,
                when,
                dc,
                soc=round(v.soc, 2),
                battery_temp=round(v.temp, 2),
            )
            arriving += self._send(v, reading, minute)
        for m in self.meters:
            when = base + timedelta(seconds=_jitter(rng, m.second))
            ac = round(drawn_ac.get(m.id, 0.0), 4)
            reading = Reading("meter", m.id, m.id, when, ac, voltage=round(rng.gauss(230, 2), 2))
            arriving += self._send(m, reading, minute)
        return arriving

    def _advance_session(self, v: _Vehicle) -> None:
        spec, rng = self.spec, self.rng
        v.minutes_left -= 1
        if v.meter is not None and v.minutes_left <= 0:
            self.load[v.meter] -= 1
            v.meter, v.minutes_left = None, -rng.randint(*spec.idle_minutes)
        elif v.meter is None and v.minutes_left <= -1 and rng.random() < 0.2:
            v.meter = self._pick_meter()
            if v.meter is not None:
                self.load[v.meter] += 1
                v.minutes_left = rng.randint(*spec.session_minutes)
                v.soc = min(v.soc, 60.0)

    def _pick_meter(self) -> str | None:
        """A meter in use (sharing it) with probability `share`, else a free one if found."""
        rng = self.rng
        if rng.random() < self.spec.share:
            for _ in range(10):
                other = rng.choice(self.vehicles)
                if other.meter is not None:
                    return other.meter
        for _ in range(20):
            candidate = rng.choice(self.meters).id
            if self.load[candidate] == 0:
                return candidate
        return None

    def _send(self, device: _Vehicle | _Meter, reading: Reading, minute: int) -> list[Reading]:
        rng = self.rng
        if device.offline_until < minute and rng.random() < self.spec.offline:
            device.offline_until = minute + rng.randint(2, 30)
        if device.offline_until >= minute:
            device.buffer.append(reading)
            return []
        out, device.buffer = [*device.buffer, reading], []
        if rng.random() < self.spec.duplicate:
            out.append(reading)
        return out


def _jitter(rng: random.Random, second: float) -> float:
    return min(59.999, max(0.0, second + rng.gauss(0, 1.5)))

"""What a charger's OCPP meter values mean as meter readings (docs/DESIGN.md, "OCPP"; this
project's docs/OCPP.md).

Each connector or EVSE is a meter, `<chargePointId>:<n>` (0, the whole charger: the charge
point's ID). Of each meter value's sampled values the grid side's energy becomes the reading:
the register (`Energy.Active.Import.Register`, the default measurand) or, without one, the
interval (`Energy.Active.Import.Interval`); in Wh unless the unit says kWh, 2.0.1's multiplier
applied; location Inlet before none or Outlet; the value without a phase before the sum of the
three phases, never both; voltage likewise, the phases' mean. The same measurand under two
contexts at one timestamp is one reading. Values are exact decimals: 1.6 sends strings, and
the 2.0.1 frame is parsed with decimals (chargers/central.py).

Values no charger can mean (a clock before retention or ahead of the skew, a negative or
too large value, a timestamp without a zone) are refused, each with a reason: the caller
counts them and does not confirm them as stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from models.kinds import ENERGY_PLACES, METER, REGISTER_DIGITS
from models.readings import Record, utc_iso
from settings import Settings

REGISTER = "Energy.Active.Import.Register"
INTERVAL = "Energy.Active.Import.Interval"
VOLTAGE = "Voltage"
_KWH = Decimal(1).scaleb(-ENERGY_PLACES)
_HUNDREDTH = Decimal("0.01")
# The grid side first: an inlet's meter, then one that does not say, then an outlet's (an AC
# charger's only meter). Body, Cable and EV are not the grid side.
_LOCATIONS = {"Inlet": 0, None: 1, "Outlet": 1}
_PHASES = ("L1", "L2", "L3")


def meter_id(charge_point_id: str, connector: int) -> str:
    return charge_point_id if connector == 0 else f"{charge_point_id}:{connector}"


@dataclass
class Mapped:
    records: list[Record] = field(default_factory=list)
    # (what, why) of each value refused.
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    """The bounds a value must be within: the ingest contract's (settings.py)."""

    max_kwh: Decimal
    max_voltage: Decimal
    skew: timedelta
    retention: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def of(cls, settings: Settings, clock: Callable[[], datetime] | None = None) -> Limits:
        return cls(
            Decimal(repr(settings.max_kwh_per_reading)),
            Decimal(repr(settings.max_voltage)),
            timedelta(seconds=settings.max_future_skew_seconds),
            timedelta(days=settings.retention_days),
            clock or (lambda: datetime.now(UTC)),
        )


def moment(value: Any, limits: Limits) -> datetime:
    """A charger's timestamp, refused (ValueError, saying why) when no charger could mean it."""
    if not isinstance(value, str):
        raise ValueError("the timestamp is not a string")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
    if at.utcoffset() is None:
        raise ValueError(f"{value!r} has no zone offset")
    now = limits.clock()
    if at > now + limits.skew:
        raise ValueError(f"{value!r} is ahead of the server clock ({utc_iso(now)})")
    if at < now - limits.retention:
        raise ValueError(f"{value!r} is older than the retention (the charger's clock is unset?)")
    return at.astimezone(UTC)


def register_reading(
    meter: str, at: datetime, wh: Any, limits: Limits, voltage: Decimal | None = None
) -> Record:
    """A register reading from a value in Wh (StartTransaction's meterStart, say)."""
    kwh = _exact(wh) / 1000
    _check_register(kwh)
    return _record(meter, at, register=kwh, voltage=voltage)


def meter_values(
    meter: str, values: Iterable[Mapping[str, Any]], limits: Limits, *, v201: bool
) -> Mapped:
    """The readings of a MeterValues' (or a transaction message's) `meter_value` list."""
    out = Mapped()
    by_moment: dict[datetime, list[Mapping[str, Any]]] = {}
    for value in values:
        try:
            at = moment(value.get("timestamp"), limits)
        except ValueError as exc:
            out.refused.append((str(value.get("timestamp")), str(exc)))
            continue
        by_moment.setdefault(at, []).extend(value.get("sampled_value") or [])
    for at, samples in sorted(by_moment.items()):
        try:
            reading = _reading(meter, at, samples, limits, v201)
        except ValueError as exc:
            out.refused.append((utc_iso(at), str(exc)))
            continue
        if reading is not None:
            out.records.append(reading)
    return out


def _reading(
    meter: str, at: datetime, samples: list[Mapping[str, Any]], limits: Limits, v201: bool
) -> Record | None:
    chosen: dict[str, dict[str | None, Decimal]] = {}  # measurand -> phase -> value
    rank: dict[str, int] = {}
    for sample in samples:
        if sample.get("format") == "SignedData":
            continue  # signed: kept by the charger as sent, not read here
        measurand = sample.get("measurand") or REGISTER
        if measurand not in (REGISTER, INTERVAL, VOLTAGE):
            continue
        where = _LOCATIONS.get(sample.get("location"))
        if where is None:
            continue
        if where < rank.get(measurand, 99):  # a better location: start again from it
            rank[measurand] = where
            chosen[measurand] = {}
        if where > rank[measurand]:
            continue
        value = _value(sample, measurand, v201)
        phase = sample.get("phase")
        phases = chosen[measurand]
        # The same value under two contexts (Transaction.Begin and Sample.Periodic) is one:
        # the least, so that the choice does not depend on the order sent.
        phases[phase] = min(phases.get(phase, value), value)
    register = _energy(chosen.get(REGISTER))
    interval = _energy(chosen.get(INTERVAL))
    voltage = _voltage(chosen.get(VOLTAGE))
    if voltage is not None and not 0 < voltage <= limits.max_voltage:
        raise ValueError(f"a voltage of {voltage} V is out of bounds")
    if register is not None:
        _check_register(register)
        return _record(meter, at, register=register, voltage=voltage)
    if interval is not None:
        if not 0 <= interval <= limits.max_kwh:
            raise ValueError(f"an interval of {interval} kWh is out of bounds")
        return _record(meter, at, interval=interval, voltage=voltage)
    return None  # nothing a reading needs: a sample of other measurands only


def _value(sample: Mapping[str, Any], measurand: str, v201: bool) -> Decimal:
    """The sample in kWh (energy) or V, exactly."""
    value = _exact(sample.get("value"))
    if v201:
        unit = sample.get("unit_of_measure") or {}
        value = value.scaleb(int(unit.get("multiplier") or 0))
        name = unit.get("unit") or ("Wh" if measurand != VOLTAGE else "V")
    else:
        name = sample.get("unit") or ("Wh" if measurand != VOLTAGE else "V")
    if measurand == VOLTAGE:
        if name != "V":
            raise ValueError(f"voltage in {name!r}, not V")
        return value
    if name == "Wh":
        return value / 1000
    if name == "kWh":
        return value
    raise ValueError(f"energy in {name!r}, neither Wh nor kWh")


def _exact(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        exact = Decimal(value if isinstance(value, str | int | Decimal) else repr(value))
    except (InvalidOperation, TypeError):
        raise ValueError(f"{value!r} is not a number") from None
    if not exact.is_finite():
        raise ValueError(f"{value!r} is not a number")
    return exact


def _energy(phases: dict[str | None, Decimal] | None) -> Decimal | None:
    """The value without a phase, else the sum of the three phases (L1-N counted as L1)."""
    if not phases:
        return None
    if None in phases:
        return phases[None]
    by_phase = {str(k).removesuffix("-N"): v for k, v in phases.items()}
    found = [by_phase[p] for p in _PHASES if p in by_phase]
    return sum(found, Decimal(0)) if found else None


def _voltage(phases: dict[str | None, Decimal] | None) -> Decimal | None:
    """The value without a phase, else the mean of the phase-to-neutral ones (L1-N or L1)."""
    if not phases:
        return None
    if None in phases:
        return phases[None]
    neutral = [v for k, v in phases.items() if str(k).removesuffix("-N") in _PHASES]
    return sum(neutral, Decimal(0)) / len(neutral) if neutral else None


def _check_register(kwh: Decimal) -> None:
    if kwh < 0:
        raise ValueError(f"a negative register ({kwh} kWh)")
    if kwh.quantize(_KWH, ROUND_HALF_UP) >= 10**REGISTER_DIGITS:
        raise ValueError(f"a register of {kwh} kWh is beyond {REGISTER_DIGITS} digits")


def _record(
    meter: str,
    at: datetime,
    *,
    register: Decimal | None = None,
    interval: Decimal | None = None,
    voltage: Decimal | None = None,
) -> Record:
    volts = None if voltage is None else float(voltage.quantize(_HUNDREDTH, ROUND_HALF_UP))
    values: dict[str, Any] = {
        "meterId": meter,
        "voltage": volts,
        "kwhConsumedAc": None
        if interval is None
        else float(interval.quantize(_KWH, ROUND_HALF_UP)),
        "kwhRegisterAc": None
        if register is None
        else f"{register.quantize(_KWH, ROUND_HALF_UP):f}",
    }
    return METER.record(utc_iso(at), values)

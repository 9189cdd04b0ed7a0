"""What a charger's OCPP meter values mean as meter readings (docs/DESIGN.md, "OCPP"; this
project's docs/OCPP.md).

Each connector or EVSE is a meter, `<chargePointId>:<n>` (0, the whole charger: the charge
point's ID). Of each meter value's sampled values the grid side's energy becomes the reading:
the register (`Energy.Active.Import.Register`, the default measurand) or, without one, the
interval (`Energy.Active.Import.Interval`); in Wh unless the unit says kWh, 2.0.1's multiplier
applied; location Inlet before none or Outlet; the value without a phase before the sum of the
three phases, never both; voltage likewise, the phases' mean. The same measurand under two
contexts at one timestamp is one reading. Values are exact decimals: 1.6 sends strings, and
the 2.0.1 frame is parsed with decimals (chargers/frames.py).

The reading then passes the ingest contract itself (readings/): the same bounds, rounding and
timestamp rules as `POST /v1/ingest`, and the same refusals. A value refused (by the contract, or
here: a unit that is not energy's, a string that is not a number, one too large for any
arithmetic) is reported with its reason, and the others are kept.

One module past 400 lines: a sample set is read once into its reading, its other measurands and
its signed values, and all three share the reading of a charger's numbers, units and multipliers
(`_exact`, `_multiplier`, `_arithmetic`); split, each would read a sample its own way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError

from devices import charger_ids
from models.kinds import METER
from readings.records import Record, utc_iso
from readings.samples import Sample
from readings.signed import SignedValue
from readings.validation import ReadingValidator
from settings import Settings

REGISTER = "Energy.Active.Import.Register"
INTERVAL = "Energy.Active.Import.Interval"
VOLTAGE = "Voltage"
TEMPERATURE = "Temperature"
# The measurands kept besides energy (docs/DESIGN.md, "Measurands"): the unit each is kept in
# (also the one assumed when a sample names none) and the factor from each unit taken. A
# temperature in K is shifted; Fahrenheit is refused rather than rounded.
MEASURANDS: dict[str, tuple[str, dict[str, Decimal]]] = {
    "Power.Active.Import": ("kW", {"kW": Decimal(1), "W": Decimal("0.001")}),
    "Current.Import": ("A", {"A": Decimal(1)}),
    VOLTAGE: ("V", {"V": Decimal(1)}),
    "Frequency": ("Hz", {"Hz": Decimal(1)}),
    "SoC": ("Percent", {"Percent": Decimal(1)}),
    TEMPERATURE: ("Celsius", {"Celsius": Decimal(1)}),
}
# An OCMF record with its signature is a few hundred bytes; a charger sending more is mistaken.
SIGNED_DATA_MAX = 16_384
# No meter measures a trillion of anything: past it a value is a charger's mistake.
SAMPLE_LIMIT = Decimal(10) ** 12
# The grid side first: an inlet's meter, then one that does not say, then an outlet's (an AC
# charger's only meter). Body, Cable and EV are not the grid side.
_LOCATIONS = {"Inlet": 0, None: 1, "Outlet": 1}
_PHASES = ("L1", "L2", "L3")
# A decimal as JSON writes one: no '_', blanks, 'NaN' or 'Infinity', which Decimal() would take.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_REGISTER_WIRE = METER.register.wire if METER.register else ""
_INTERVAL_WIRE = METER.register.interval if METER.register else ""
_VOLTAGE_WIRE = next(q.wire for q in METER.quantities if q.measurand == VOLTAGE)


def meter_id(charge_point_id: str, connector: Any) -> str:
    """The meter of a connector (1.6) or EVSE (2.0.1); ValueError for a number no charger has."""
    if type(connector) is not int or not 0 <= connector <= charger_ids.MAX_CONNECTOR:
        raise ValueError(
            f"a connector or EVSE is numbered 0 to {charger_ids.MAX_CONNECTOR}, not {connector!r}"
        )
    return charge_point_id if connector == 0 else f"{charge_point_id}:{connector}"


@dataclass
class Mapped:
    records: list[Record] = field(default_factory=list)
    # (what, why) of each value refused.
    refused: list[tuple[str, str]] = field(default_factory=list)
    # What the meter values said besides energy (readings/samples.py).
    samples: list[Sample] = field(default_factory=list)
    # Its signed values, byte for byte (readings/signed.py).
    signed: list[SignedValue] = field(default_factory=list)

    def __iadd__(self, other: Mapped) -> Mapped:
        self.records += other.records
        self.refused += other.refused
        self.samples += other.samples
        self.signed += other.signed
        return self


@dataclass(frozen=True)
class Contract:
    """The ingest contract every value from a charger passes (readings/), with its clock."""

    validator: ReadingValidator

    @classmethod
    def of(cls, settings: Settings, clock: Callable[[], datetime] | None = None) -> Contract:
        return cls(ReadingValidator(settings, clock or (lambda: datetime.now(UTC))))

    def moment(self, value: Any) -> datetime:
        """A reading's timestamp as the contract reads it; ValueError saying why not."""
        timestamp = self.validator.schemas[METER.name].fields["timestamp"]
        try:
            at: datetime = timestamp.deserialize(value)
        except ValidationError as exc:
            raise ValueError(f"{_shown(value)}: {_said(exc.messages)}") from None
        return at.astimezone(UTC)

    def readings(self, wires: list[dict[str, Any]]) -> Mapped:
        """The meter readings the contract takes of these, and why it refused the others."""
        records, rejections = self.validator.validate(wires)
        refused = [(_shown(wires[r["index"]]["timestamp"]), _said(r["errors"])) for r in rejections]
        return Mapped(records, refused)


def when(value: Any) -> datetime:
    """A transaction message's own time (its start or stop), in UTC: any ISO 8601 timestamp
    with a zone. Its readings are held to the contract's bounds; the transaction is recorded
    whatever the charger's clock said. ValueError when it cannot be read."""
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.utcoffset() is None:
        raise ValueError(f"{_shown(value)} is not an ISO 8601 timestamp with a zone offset")
    return at.astimezone(UTC)


def register_reading(meter: str, timestamp: Any, wh: Any, contract: Contract) -> Mapped:
    """A register reading from a value in Wh at a message's timestamp (StartTransaction's
    meterStart, say)."""
    try:
        kwh = _exact(wh) / 1000
    except (ValueError, ArithmeticError) as exc:
        return Mapped(refused=[(_shown(timestamp), _arithmetic(exc, wh))])
    return contract.readings([_wire(meter, timestamp, register=kwh)])


def meter_values(
    meter: str,
    values: Iterable[Mapping[str, Any]],
    contract: Contract,
    *,
    v201: bool,
    transaction: str | None = None,
) -> Mapped:
    """The readings of a MeterValues' (or a transaction message's) `meter_value` list, and its
    signed values on the transaction it names."""
    out = Mapped()
    by_moment: dict[datetime, list[Mapping[str, Any]]] = {}
    for value in values:
        try:
            at = contract.moment(value.get("timestamp"))
        except ValueError as exc:
            out.refused.append((_shown(value.get("timestamp")), str(exc)))
            continue
        by_moment.setdefault(at, []).extend(value.get("sampled_value") or [])
    wires = []
    for at, samples in sorted(by_moment.items()):
        kept = _kept_samples(meter, at, samples, v201)
        out.samples += kept.samples
        out.refused += kept.refused
        try:
            wire = _reading(meter, at, samples, v201)
        except ValueError as exc:
            out.refused.append((utc_iso(at), str(exc)))
            wire = None
        if wire is not None:
            wires.append(wire)
        unsigned = wire.get(_REGISTER_WIRE) if wire is not None else None
        signed = _signed(meter, at, samples, v201, transaction, unsigned)
        out.signed += signed.signed
        out.refused += signed.refused
    out += contract.readings(wires)
    return out


def _wire(
    meter: str,
    timestamp: Any,
    *,
    register: Decimal | None = None,
    interval: Decimal | None = None,
    volts: Decimal | None = None,
) -> dict[str, Any]:
    """A reading as a device would post it: what the contract validates."""
    wire: dict[str, Any] = {"type": METER.name, METER.id_wire: meter, "timestamp": timestamp}
    if register is not None:
        wire[_REGISTER_WIRE] = register
    elif interval is not None:
        wire[_INTERVAL_WIRE] = interval
    if volts is not None:
        wire[_VOLTAGE_WIRE] = volts
    return wire


def _said(errors: Any) -> str:
    """A contract's error messages as one line: `field: message; ...`."""
    if isinstance(errors, dict):
        return "; ".join(f"{name}: {_said(messages)}" for name, messages in errors.items())
    if isinstance(errors, list):
        return " ".join(_said(message) for message in errors)
    return str(errors)


def _shown(value: Any) -> str:
    """What a charger sent, as a refusal names it: never more than a line's worth."""
    shown = repr(value)
    return shown if len(shown) <= 64 else f"{shown[:60]}..."


def _arithmetic(exc: Exception, value: Any) -> str:
    if isinstance(exc, ArithmeticError):
        return f"{str(value)[:40]!r} is out of any meter's range"
    return str(exc)


def _reading(
    meter: str, at: datetime, samples: list[Mapping[str, Any]], v201: bool
) -> dict[str, Any] | None:
    """The reading the samples of one moment make, as a device would post it; None when they
    carry no energy."""
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
    if register is None and interval is None:
        return None  # nothing a reading needs: a sample of other measurands only
    volts = _volts(chosen.get(VOLTAGE))
    return _wire(meter, utc_iso(at), register=register, interval=interval, volts=volts)


def _kept_samples(meter: str, at: datetime, samples: list[Mapping[str, Any]], v201: bool) -> Mapped:
    """The moment's measurands besides energy, each in the unit kept; a value that cannot be
    read is refused with its reason and the others kept."""
    out = Mapped()
    for sample in samples:
        measurand = sample.get("measurand")
        if measurand not in MEASURANDS or sample.get("format") == "SignedData":
            continue
        try:
            value = _measured(sample, measurand, v201)
        except ValueError as exc:
            out.refused.append((utc_iso(at), f"{measurand}: {exc}"))
            continue
        out.samples.append(
            Sample(
                meter,
                at,
                measurand,
                sample.get("phase") or "",
                sample.get("location") or "",
                sample.get("context") or "",
                value,
            )
        )
    return out


def _signed(
    meter: str,
    at: datetime,
    samples: list[Mapping[str, Any]],
    v201: bool,
    transaction: str | None,
    unsigned_kwh: Decimal | None,
) -> Mapped:
    """The moment's signed values as sent: 1.6's `SignedData` value, 2.0.1's
    `signedMeterValue` (whose sample's own value is read unsigned, as any other)."""
    out = Mapped()
    for sample in samples:
        if v201:
            signed = sample.get("signed_meter_value")
            if signed is None:
                continue
            fields = signed if isinstance(signed, Mapping) else {}
            data = fields.get("signed_meter_data")
            extra = [fields.get(k) for k in ("signing_method", "encoding_method", "public_key")]
        elif sample.get("format") == "SignedData":
            data, extra = sample.get("value"), [None, None, None]
        else:
            continue
        if not isinstance(data, str) or not data or len(data) > SIGNED_DATA_MAX:
            why = f"not a signed value of 1 to {SIGNED_DATA_MAX} characters: {_shown(data)}"
            out.refused.append((utc_iso(at), why))
            continue
        method, encoding, key = (x if isinstance(x, str) else None for x in extra)
        out.signed.append(
            SignedValue(
                meter,
                at,
                sample.get("context") or "Sample.Periodic",
                sample.get("measurand") or REGISTER,
                transaction,
                data,
                method,
                encoding,
                key,
                unsigned_kwh,
            )
        )
    return out


def _measured(sample: Mapping[str, Any], measurand: str, v201: bool) -> Decimal:
    """A measurand's value in the unit kept (MEASURANDS), exactly."""
    raw = sample.get("value")
    kept, factors = MEASURANDS[measurand]
    try:
        value = _exact(raw)
        if v201:
            unit = sample.get("unit_of_measure") or {}
            value = value.scaleb(_multiplier(unit.get("multiplier")))
            name = unit.get("unit") or kept
        else:
            name = sample.get("unit") or kept
        if name == "K" and measurand == TEMPERATURE:
            value -= Decimal("273.15")
        elif name in factors:
            value *= factors[name]
        else:
            raise ValueError(f"in {name!r}, not {' or '.join(factors)}")
        if abs(value) >= SAMPLE_LIMIT:
            raise ValueError(f"{str(raw)[:40]!r} is out of any meter's range")
    except ArithmeticError as exc:
        raise ValueError(_arithmetic(exc, raw)) from None
    return value


def _value(sample: Mapping[str, Any], measurand: str, v201: bool) -> Decimal:
    """The sample in kWh (energy) or V, exactly."""
    raw = sample.get("value")
    try:
        value = _exact(raw)
        if v201:
            unit = sample.get("unit_of_measure") or {}
            value = value.scaleb(_multiplier(unit.get("multiplier")))
            name = unit.get("unit") or ("Wh" if measurand != VOLTAGE else "V")
        else:
            name = sample.get("unit") or ("Wh" if measurand != VOLTAGE else "V")
        if measurand == VOLTAGE:
            if name != "V":
                raise ValueError(f"{_VOLTAGE_WIRE} in {name!r}, not V")
            return value
        if name == "Wh":
            return value / 1000
        if name == "kWh":
            return value
    except ArithmeticError as exc:  # beyond any decimal: 1e999999999, a multiplier of 10^6
        raise ValueError(_arithmetic(exc, raw)) from None
    raise ValueError(f"energy in {name!r}, neither Wh nor kWh")


def _multiplier(value: Any) -> int:
    if value is None:
        return 0
    if type(value) is not int:
        raise ValueError(f"a multiplier of {str(value)[:40]!r} is not an integer")
    return value


def _exact(value: Any) -> Decimal:
    """A number as a charger wrote it (1.6: a string; 2.0.1: a JSON number, parsed exactly)."""
    exact_already = type(value) is int or type(value) is Decimal
    if exact_already or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        exact = Decimal(value)
    else:  # a float (2.0.1's NaN or Infinity), a bool, '1_000', ' 1', 'NaN'...
        raise ValueError(f"{str(value)[:40]!r} is not a number")
    return exact


def _energy(phases: dict[str | None, Decimal] | None) -> Decimal | None:
    """The value without a phase, else the sum of the three phases; a phase's value as L1 (or,
    without one, L1-N), whatever order the samples came in. Never a total with its phases."""
    if not phases:
        return None
    if None in phases:
        return phases[None]
    found = [_phase(phases, p, f"{p}-N") for p in _PHASES]
    known = [v for v in found if v is not None]
    return sum(known, Decimal(0)) if known else None


def _volts(phases: dict[str | None, Decimal] | None) -> Decimal | None:
    """The value without a phase, else the mean of the phase-to-neutral ones (L1-N, or without
    it L1), whatever order the samples came in."""
    if not phases:
        return None
    if None in phases:
        return phases[None]
    found = [_phase(phases, f"{p}-N", p) for p in _PHASES]
    known = [v for v in found if v is not None]
    return sum(known, Decimal(0)) / len(known) if known else None


def _phase(phases: dict[str | None, Decimal], first: str, then: str) -> Decimal | None:
    return phases[first] if first in phases else phases.get(then)

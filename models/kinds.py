"""The kinds of reading, each declared once: what a device sends (its fields on the wire and their
bounds), what the stream carries (a record's layout), where it is stored (history and current
state, their columns), and how the API shows it. Validation, the stream's records, the history
writer, current state, the history and state reads, credentials, partitions, the API's shapes,
its OpenAPI document and the metrics all iterate over KINDS (docs/ARCHITECTURE.md, "A new kind
of reading").

The efficiency rule itself is about meters and vehicles only (efficiency/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Integer, Numeric, SmallInteger
from sqlalchemy.types import TypeEngine

from settings import Settings

# Energy is kept exactly to the milliwatt-hour.
ENERGY = Numeric(10, 6)
ENERGY_PLACES = 6
# A cumulative register: 12 digits before the point (docs/DESIGN.md, "Registers").
REGISTER = Numeric(18, 6)
REGISTER_DIGITS = 12
# Everything else to hundredths, stored as integer hundredths (a third of numeric's bytes).
MEASURE_PLACES = 2


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    low_inclusive: bool = True


@dataclass(frozen=True)
class Quantity:
    """A measured value: its name on the wire, its column, how it is kept, its plausible range."""

    wire: str
    name: str  # the column's stem: `name` for energy, `name_hundredths` for the rest
    sql_type: TypeEngine[Any]
    bounds: Callable[[Settings], Bounds]
    energy: bool = False
    description: str = ""
    # The OCPP measurand a charger reports it as (chargers/mapping.py), if any.
    measurand: str = ""

    @property
    def places(self) -> int:
        return ENERGY_PLACES if self.energy else MEASURE_PLACES

    @property
    def column(self) -> str:
        return self.name if self.energy else f"{self.name}_hundredths"

    def stored(self, staged: str) -> str:
        """SQL turning the value as staged (numeric) into the column's."""
        return staged if self.energy else f"round({staged} * 100)"

    def shown(self, value: Any) -> float | None:
        """The column's value as the API shows it (None: not known)."""
        if value is None:
            return None
        return float(value) if self.energy else value / 100


@dataclass(frozen=True)
class Register:
    """A cumulative energy counter a reading may carry instead of its interval's energy; the
    interval is then derived from the device's previous reading (readings/registers.py)."""

    wire: str
    column: str
    interval: str  # the wire name of the quantity it stands in for
    # Quantities a register reading may leave out (stored as unknown, never as 0).
    optional: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Kind:
    """A kind of reading. What is derived from the declaration is worked out once (cached):
    validation and the writer ask for it per reading."""

    name: str  # on the wire (`type`), in metrics' labels, in credentials
    code: str  # in the stream's records
    quantities: tuple[Quantity, ...]
    # Other kinds whose ID a reading of this kind names (a vehicle names its meter).
    refs: tuple[str, ...] = field(default=())
    register: Register | None = None

    @cached_property
    def title(self) -> str:
        return self.name.capitalize()

    @cached_property
    def plural(self) -> str:
        return f"{self.name}s"

    @cached_property
    def id_wire(self) -> str:
        return f"{self.name}Id"

    @cached_property
    def id_column(self) -> str:
        return f"{self.name}_id"

    @cached_property
    def ref_wires(self) -> tuple[str, ...]:
        return tuple(f"{ref}Id" for ref in self.refs)

    @cached_property
    def ref_columns(self) -> tuple[str, ...]:
        return tuple(f"{ref}_id" for ref in self.refs)

    @cached_property
    def history_table(self) -> str:
        return f"{self.name}_readings"

    @cached_property
    def current_table(self) -> str:
        return f"{self.name}_current_state"

    @cached_property
    def register_wires(self) -> tuple[str, ...]:
        return (self.register.wire,) if self.register else ()

    @cached_property
    def register_columns(self) -> tuple[str, ...]:
        return (self.register.column,) if self.register else ()

    @cached_property
    def wire_fields(self) -> tuple[str, ...]:
        """Every field of a reading but `type` and `timestamp`."""
        return (
            self.id_wire,
            *self.ref_wires,
            *(q.wire for q in self.quantities),
            *self.register_wires,
        )

    @cached_property
    def record_length(self) -> int:
        # [code, recorded_at, id, *refs, *quantities, register] (an interval reading's ends
        # before the register: record())
        return 3 + len(self.refs) + len(self.quantities) + len(self.register_wires)

    def nullable(self, quantity: Quantity) -> bool:
        """Whether a stored reading may lack the quantity: one a register stands in for (its
        interval unknown until derived, or for good) or may leave out."""
        register = self.register
        return register is not None and quantity.wire in (register.interval, *register.optional)

    @cached_property
    def interval(self) -> Quantity | None:
        """The quantity a register stands in for."""
        register = self.register
        return next(q for q in self.quantities if q.wire == register.interval) if register else None

    def position(self, wire: str) -> int:
        """Where a field sits in this kind's records."""
        return 2 + self.wire_fields.index(wire)

    def record(self, recorded_at: str, values: dict[str, Any]) -> list[Any]:
        """A reading as the stream carries it. An interval reading's record ends before the
        register: the stream holds millions, and records queued before registers were the
        same."""
        record = [self.code, recorded_at, *map(values.get, self.wire_fields)]
        if self.register and record[-1] is None:
            record.pop()
        return record

    def register_of(self, record: list[Any]) -> Any:
        """A record's register: None for an interval reading."""
        return record[-1] if self.register and len(record) == self.record_length else None

    @cached_property
    def stored_columns(self) -> tuple[str, ...]:
        """Refs, quantities, then the register, as history and current state hold them."""
        return (*self.ref_columns, *(q.column for q in self.quantities), *self.register_columns)

    @cached_property
    def least_first(self) -> tuple[str, ...]:
        """Of two different readings with one identity the least is kept (docs/DESIGN.md,
        "The wire contract"): compared by the register, then energy, then the rest in record
        order. A register reading's interval is derived, not sent, so it is not compared."""
        energy = tuple(q.column for q in self.quantities if q.energy)
        first = (*self.register_columns, *energy)
        return (*first, *(c for c in self.stored_columns if c not in first))

    def least_first_sql(self, value: Callable[[str], str]) -> str:
        """SQL: least_first as a row value, `value(column)` giving each column's expression.
        Missing values compare as -1 (below any stored one: they are never negative) so that
        the comparison is never NULL."""
        interval = self.interval
        parts = []
        for column in self.least_first:
            expression = value(column)
            if self.register and interval is not None and column == interval.column:
                expression = (
                    f"CASE WHEN {value(self.register.column)} IS NULL THEN {expression} END"
                )
            nullable = column in self.register_columns or any(
                q.column == column and self.nullable(q) for q in self.quantities
            )
            parts.append(f"coalesce({expression}, -1)" if nullable else expression)
        return "(" + ", ".join(parts) + ")"


def _kwh(settings: Settings) -> Bounds:
    return Bounds(0, settings.max_kwh_per_reading)


METER = Kind(
    name="meter",
    code="m",
    register=Register(
        "kwhRegisterAc",
        "kwh_register_ac",
        interval="kwhConsumedAc",
        optional=("voltage",),
        description="The meter's cumulative energy register, instead of kwhConsumedAc.",
    ),
    quantities=(
        Quantity(
            "kwhConsumedAc",
            "kwh_consumed_ac",
            ENERGY,
            _kwh,
            energy=True,
            description="Energy of the interval since the meter's last reading.",
        ),
        Quantity(
            "voltage",
            "voltage",
            Integer(),
            lambda s: Bounds(0, s.max_voltage, low_inclusive=False),
            measurand="Voltage",
        ),
    ),
)

VEHICLE = Kind(
    name="vehicle",
    code="v",
    refs=("meter",),
    register=Register(
        "kwhRegisterDc",
        "kwh_register_dc",
        interval="kwhDeliveredDc",
        description="The battery's cumulative energy-added register, instead of kwhDeliveredDc.",
    ),
    quantities=(
        Quantity(
            "kwhDeliveredDc",
            "kwh_delivered_dc",
            ENERGY,
            _kwh,
            energy=True,
            description="Energy delivered to the battery since the vehicle's last reading.",
        ),
        Quantity("soc", "soc", SmallInteger(), lambda s: Bounds(0, 100)),
        Quantity(
            "batteryTemp",
            "battery_temp",
            SmallInteger(),
            lambda s: Bounds(s.battery_temp_min_c, s.battery_temp_max_c),
        ),
    ),
)

KINDS = (METER, VEHICLE)
BY_NAME = {kind.name: kind for kind in KINDS}
BY_CODE = {kind.code: kind for kind in KINDS}

# A charger is a device as well, not a kind of reading: its token writes its connectors' meters
# (devices/charger_ids.py). Every device's credentials name one of these kinds.
CHARGER = "charger"
DEVICE_KINDS = (*(kind.name for kind in KINDS), CHARGER)

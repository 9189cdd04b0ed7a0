"""The v1 wire contract for readings (docs/DESIGN.md), as marshmallow schemas built from the
kinds of reading (models/kinds.py).

A request's readings are split by kind and each kind is validated in one `many=True` load with
schema instances built once per process: the cheap path through marshmallow. marshmallow visits
every field a schema declares for every reading, present or not, so the readings devices send
most (no `type`, an interval's energy and no register) are loaded by a schema without those two
fields: the same checks and the same messages for what is there, a field fewer or two to visit.

Cheaper still, and most of a batched request's cost: a common reading with exactly its fields is
first checked by `_CommonCheck`, the same schema's checks run in plain code. One that passes is
kept as marshmallow would have loaded it; one that fails any check is loaded by marshmallow,
which says why. A property test holds the two to the same answers.

One module past 400 lines because it is one contract: the schemas, the plain checks that stand
in for them and the classification of a reading's kind are the same rules, and the property
test holds them together.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from models.kinds import BY_NAME, ENERGY_PLACES, KINDS, REGISTER_DIGITS, Kind, Quantity
from readings.fields import LARGEST_ROUNDED, Number, Register, String, Timestamp, device_id
from readings.records import Record, utc_iso
from settings import Settings

# Every field name an error can be reported under (metrics label them, so the set is closed).
FIELDS = frozenset(
    ("type", "timestamp", "_record", *(name for kind in KINDS for name in kind.wire_fields))
)
# The fields only one kind has, which tell a reading's kind when it does not say.
_OWN = {
    kind.name: tuple(
        name
        for name in kind.wire_fields
        if not any(name in other.wire_fields for other in KINDS if other is not kind)
    )
    for kind in KINDS
}


_OWN_SETS = {name: frozenset(own) for name, own in _OWN.items()}


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


_HAS = "; ".join(
    f"{_a(kind.name)} reading has {', '.join(kind.wire_fields)} and timestamp" for kind in KINDS
)
NEITHER = f"Not {' or '.join(_a(k.name) for k in KINDS)} reading. {_HAS[0].upper()}{_HAS[1:]}."
_TYPES = " or ".join(f"'{kind.name}'" for kind in KINDS)


class _Reading(Schema):
    class Meta:
        unknown = RAISE


def _number(quantity: Quantity, settings: Settings, kind: Kind) -> Number:
    bounds = quantity.bounds(settings)
    # One a register reading stands in for or may leave out is checked after loading
    # (_Alternatives); the document says when it is needed.
    required = not kind.nullable(quantity)
    about = {"description": quantity.description} if quantity.description else {}
    if kind.register and not required:
        register, interval = kind.register.wire, kind.register.interval
        when = (
            f"Required unless {register} is given; never both."
            if quantity.wire == interval
            else f"Required with {interval}; may be left out with {register}."
        )
        about = {"description": " ".join((quantity.description, when)).strip()}
    if bounds.low_inclusive:
        check = validate.Range(min=bounds.low, max=bounds.high)
        return Number(quantity.places, required=required, validate=check, metadata=about)
    check = validate.Range(
        min=bounds.low,
        min_inclusive=False,
        max=bounds.high,
        error="Must be above {min} once rounded to hundredths, and at most {max}.",
    )
    # exclusiveMinimum: for the OpenAPI document.
    return Number(
        quantity.places,
        required=required,
        validate=check,
        metadata={"exclusiveMinimum": True, **about},
    )


def _register(kind: Kind) -> dict[str, fields.Field]:
    if kind.register is None:
        return {}
    about = {"description": kind.register.description}
    return {kind.register.wire: Register(ENERGY_PLACES, REGISTER_DIGITS, metadata=about)}


def _schema(kind: Kind, settings: Settings, clock: Callable[[], datetime]) -> Schema:
    skew = timedelta(seconds=settings.max_future_skew_seconds)
    retention = timedelta(days=settings.retention_days)
    declared: dict[str, fields.Field] = {
        "type": String(load_default=None, validate=validate.Equal(kind.name)),
        kind.id_wire: device_id(),
        **{wire: device_id() for wire in kind.ref_wires},
        # A kind with a register takes it or the interval: which, and what a register reading
        # may leave out, is checked after loading (_Alternatives).
        **{q.wire: _number(q, settings, kind) for q in kind.quantities},
        **_register(kind),
        "timestamp": Timestamp(clock, skew, retention),
    }
    schema: type[Schema] = type(f"{kind.title}Reading", (_Reading,), declared)
    return schema()


def build_schemas(settings: Settings, clock: Callable[[], datetime]) -> dict[str, Schema]:
    """Each kind's schema with this deployment's bounds, by kind."""
    return {kind.name: _schema(kind, settings, clock) for kind in KINDS}


def _without(schema: Schema, names: set[str]) -> Schema:
    kept = {name: field for name, field in schema.declared_fields.items() if name not in names}
    return type(f"{type(schema).__name__}Interval", (_Reading,), kept)()


def _left_out(kind: Kind) -> set[str]:
    """What the common reading of a kind does not carry: `type`, and the register."""
    return {"type", *((kind.register.wire,) if kind.register else ())}


def _common(kind: Kind, item: dict[str, Any]) -> bool:
    """Whether a reading of `kind` is the common one: no `type`, and an interval's energy rather
    than the register (a kind without one: any reading without `type`)."""
    if "type" in item:
        return False
    register = kind.register
    return register is None or (register.interval in item and register.wire not in item)


Rejection = dict[str, Any]


class _CommonCheck:
    """A common reading's schema (`_without`) as plain checks, for a reading with exactly its
    fields: the loaded values when every check passes, None when one fails (marshmallow then
    loads it, and says why). Per field it does what marshmallow does for a present value: the
    field's own deserialisation, then its one validator."""

    def __init__(self, kind: Kind, schema: Schema) -> None:
        declared = schema.declared_fields
        self.shape = frozenset(declared)
        self.code = kind.code
        # In the record's order (Kind.record), the register left out.
        order = [name for name in kind.wire_fields if name in declared]
        self.fields = [(name, declared[name]) for name in order]
        self.moment = declared["timestamp"]
        self.ids = [(name, _pattern(field)) for name, field in self.fields if _is_id(field)]
        # (name, places, low, high, whether low is allowed): one Range each (_number).
        self.numbers = [
            (name, field.places, *bounds)
            for name, field in self.fields
            if isinstance(field, Number) and (bounds := _range(field)) is not None
        ]

    @staticmethod
    def fits(kind: Kind, schema: Schema) -> bool:
        """Whether every field of the schema is one this check knows, so that it may stand in."""
        for name, field in schema.declared_fields.items():
            known = (
                _is_id(field)
                or (isinstance(field, Number) and _range(field) is not None)
                or (name == "timestamp" and isinstance(field, Timestamp))
            )
            if not known:
                return False
        shape = dict.fromkeys(schema.declared_fields, 0)
        return classify(shape) == kind.name and _common(kind, shape)

    def record(self, item: dict[str, Any]) -> Record | None:
        for name, pattern in self.ids:
            value = item[name]
            if type(value) is not str or pattern.match(value) is None:
                return None
        values = {}
        for name, places, low, high, low_inclusive in self.numbers:
            value = item[name]
            if type(value) is int and -LARGEST_ROUNDED < value < LARGEST_ROUNDED:
                value = float(value)  # exactly, as Number makes it
            elif type(value) is not float or round(value, places) != value:
                return None  # a Decimal, a float to round, not a number: marshmallow's way
            if value > high or value < low or (value == low and not low_inclusive):
                return None
            values[name] = value
        try:
            moment = self.moment._deserialize(item["timestamp"], "timestamp", item)
        except ValidationError:
            return None
        return [
            self.code,
            utc_iso(moment),
            *(values[name] if name in values else item[name] for name, _ in self.fields),
        ]


def _is_id(field: fields.Field) -> bool:
    return (
        type(field) is String
        and len(field.validators) == 1
        and isinstance(field.validators[0], validate.Regexp)
    )


def _pattern(field: fields.Field) -> Any:
    check = field.validators[0]
    assert isinstance(check, validate.Regexp)
    return check.regex


def _range(field: fields.Field) -> tuple[float, float, bool] | None:
    """A number's bounds, when it has one Range with both ends and its high end allowed."""
    if len(field.validators) != 1 or not isinstance(check := field.validators[0], validate.Range):
        return None
    if check.min is None or check.max is None or not check.max_inclusive:
        return None
    return check.min, check.max, check.min_inclusive


class _Alternatives:
    """A kind with a register: a reading carries its interval's energy or its register, exactly
    one; an interval reading carries what the seed's contract requires."""

    def __init__(self, kind: Kind) -> None:
        register = kind.register
        assert register is not None
        self.interval, self.register = register.interval, register.wire
        self.both = f"Give {self.interval} or {self.register}, not both."
        self.neither = (
            f"Missing: give {self.interval} (the energy since the last reading) or "
            f"{self.register} (the cumulative register)."
        )
        self.optional = register.optional

    def errors(self, reading: dict[str, Any]) -> dict[str, list[str]] | None:
        if self.register in reading:
            if self.interval in reading:
                return {self.register: [self.both]}
            return None
        if self.interval not in reading:
            return {self.interval: [self.neither]}
        return self.missing(reading)

    def missing(self, reading: dict[str, Any]) -> dict[str, list[str]] | None:
        """What an interval reading lacks of what the seed's contract requires: all a common
        reading (its interval given, no register: _common) needs checking."""
        missing = [name for name in self.optional if name not in reading]
        return {name: ["Missing data for required field."] for name in missing} or None


_ALTERNATIVES = {kind.name: _Alternatives(kind) for kind in KINDS if kind.register}


class ReadingValidator:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.schemas = build_schemas(settings, clock or (lambda: datetime.now(UTC)))
        # By (kind, whether the reading is the common one): see the module's docstring.
        self._loaders = {
            (kind.name, common): (
                _without(self.schemas[kind.name], _left_out(kind))
                if common
                else self.schemas[kind.name]
            )
            for kind in KINDS
            for common in (True, False)
        }
        # What is checked after loading, by the same key: a common reading has its interval
        # and no register, so only what it may not leave out is left to check.
        self._after: dict[tuple[str, bool], Callable[[dict[str, Any]], Any] | None] = {}
        for kind in KINDS:
            alternatives = _ALTERNATIVES.get(kind.name)
            self._after[kind.name, False] = alternatives.errors if alternatives else None
            common_check = alternatives.missing if alternatives and alternatives.optional else None
            self._after[kind.name, True] = common_check
        self._checks: dict[frozenset[str], _CommonCheck] = {}
        for kind in KINDS:
            common = self._loaders[kind.name, True]
            if _CommonCheck.fits(kind, common):
                check = _CommonCheck(kind, common)
                self._checks[check.shape] = check

    def validate(self, items: list[Any]) -> tuple[list[Record], list[Rejection]]:
        """Normalised valid readings (in body order) and the rejected ones by index."""
        rejected: dict[int, dict[str, Any]] = {}
        records: dict[int, Record] = {}
        groups: dict[tuple[str, bool], list[int]] = {key: [] for key in self._loaders}
        checks = self._checks
        for index, item in enumerate(items):
            # A common reading with exactly its fields is one kind's (_CommonCheck.fits).
            check = checks.get(frozenset(item)) if type(item) is dict else None
            if check is not None and (quick := check.record(item)) is not None:
                records[index] = quick
                continue
            told = classify(item)
            if isinstance(told, dict):
                rejected[index] = told
            else:
                groups[told, _common(BY_NAME[told], item)].append(index)

        for (name, common), indexes in groups.items():
            if not indexes:
                continue
            try:
                loaded = self._loaders[name, common].load([items[i] for i in indexes], many=True)
                errors: dict[int, Any] = {}
            except ValidationError as exc:
                loaded, errors = exc.valid_data, exc.messages  # type: ignore[assignment]
            kind, after = BY_NAME[name], self._after[name, common]
            record = kind.record
            for position, index in enumerate(indexes):
                if errors and position in errors:
                    rejected[index] = _with_suggestions(errors[position], kind)
                    continue
                reading = loaded[position]
                wrong = after(reading) if after else None
                if wrong:
                    rejected[index] = wrong
                else:
                    records[index] = record(utc_iso(reading["timestamp"]), reading)

        ordered = [records[i] for i in sorted(records)]
        return ordered, [{"index": i, "errors": rejected[i]} for i in sorted(rejected)]


UNKNOWN_FIELD = "Unknown field."


def _with_suggestions(errors: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """A reading's errors, an unknown field's naming the field it was likely meant to be (a
    case slip such as kwhConsumedAC, or a letter or two off)."""
    known = ("type", *kind.wire_fields, "timestamp")
    out = {}
    for field, messages in errors.items():
        if messages == [UNKNOWN_FIELD] and (meant := _meant(field, known)):
            messages = [f"Unknown field: did you mean '{meant}'?"]
        out[field] = messages
    return out


def _meant(field: str, known: tuple[str, ...]) -> str | None:
    by_case = [name for name in known if name.lower() == field.lower()]
    if by_case:
        return by_case[0]
    close = difflib.get_close_matches(field, known, n=1, cutoff=0.8)
    return close[0] if close else None


def classify(item: Any) -> str | dict[str, list[str]]:
    """The kind a reading is by `type`, else by the fields only one kind has (else by the ID it
    carries); errors when it fits none, or more than one."""
    if not isinstance(item, dict):
        return {"_record": [f"Expected a JSON object, got {_json_type(item)}."]}
    declared = item.get("type")
    if declared is None:
        # The common reading: its own fields are one kind's only, said without building errors.
        telling_kinds = [name for name, own in _OWN_SETS.items() if not own.isdisjoint(item)]
        if len(telling_kinds) == 1:
            return telling_kinds[0]
    present = {name: [f for f in own if f in item] for name, own in _OWN.items()}
    if declared is not None:
        if not isinstance(declared, str) or declared not in BY_NAME:
            return {"type": [f"Must be {_TYPES}."]}
        for name, found in present.items():
            if found and name != declared:
                return {"type": [f"Says '{declared}' but has {name} fields: {', '.join(found)}."]}
        return declared
    telling = {name: found for name, found in present.items() if found}
    if len(telling) > 1:
        mixed = " and ".join(
            f"{name} fields ({', '.join(found)})" for name, found in telling.items()
        )
        return {"_record": [f"Mixes {mixed}; send one reading per object."]}
    if telling:
        return next(iter(telling))
    for kind in KINDS:
        if kind.id_wire in item:
            return kind.name
    return {"_record": [NEITHER]}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"

"""The marshmallow fields the API's schemas are built from: IDs, numbers rounded to what is stored,
timestamps with a zone, moments in UTC."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from marshmallow import ValidationError, fields, validate

ID_PATTERN = r"[A-Za-z0-9._:-]{1,64}"
ID_RE = re.compile(ID_PATTERN)
ID_RULE = "1 to 64 characters: letters, digits, '.', '_', ':' or '-'"
# Floats this large have no fractional part (2**53), and Decimal's precision could not hold one.
LARGEST_ROUNDED = 2.0**53


class _DirectValidators:
    """For each value, marshmallow wraps a field's validators in a new `And` before running
    them: measurable at tens of thousands of readings a second. A field with at most one
    validator runs it directly; the check and its message are the same."""

    validators: list[Any]

    @cached_property
    def _direct(self) -> bool:
        return len(self.validators) <= 1 and all(
            isinstance(v, validate.Validator) for v in self.validators
        )

    def _validate(self, value: Any) -> None:
        if self._direct:
            for check in self.validators:
                check(value)
        else:
            super()._validate(value)  # type: ignore[misc]


class String(_DirectValidators, fields.String):
    pass


class Number(_DirectValidators, fields.Float):
    """A JSON number, finite, rounded to the `places` decimals it is stored with (half away from
    zero, as PostgreSQL rounds numeric), so that a 202 stands for the value stored and the
    bounds are checked on it. Unlike fields.Float, a numeric string is not a number."""

    def __init__(self, places: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.places = places
        self.quantum = Decimal(1).scaleb(-places)

    def _validated(self, value: Any) -> float:
        # The common case, a finite float as JSON parsing gives it with no more decimals than are
        # kept, without Float's chain: a float equal to its rounding to `places` decimals (round()
        # is C) is the float of a decimal with at most that many, so its shortest repr has no
        # more either, and _rounded would keep it as it is. NaN and infinities are never equal.
        if type(value) is float and round(value, self.places) == value:
            return value
        if type(value) is Decimal:  # a body parsed exactly, for its registers (web/api/ingest.py)
            value = float(value)
        if type(value) is not float or not math.isfinite(value):
            if value is True or value is False or not isinstance(value, int | float):
                raise self.make_error("invalid", input=value)
            value = super()._validated(value)
        return self._rounded(value)

    def _rounded(self, value: float) -> float:
        text = repr(value)
        point = text.find(".")
        if "e" not in text and (point < 0 or len(text) - point - 1 <= self.places):
            return value
        if abs(value) >= LARGEST_ROUNDED:  # a whole number already, and out of every bound
            return value
        exact = Decimal(text).quantize(self.quantum, ROUND_HALF_UP)
        return float(exact) + 0.0  # + 0.0: no negative zero


class Register(_DirectValidators, fields.Field):
    """A cumulative energy register (docs/DESIGN.md, "Registers"): a JSON number kept as an
    exact decimal, rounded half up to the kWh places history keeps, and carried through the
    stream as its text so that no float ever holds it."""

    default_error_messages = {
        "invalid": "Not a number.",
        "range": "Must be at least 0 and below {limit:,} kWh.",
    }

    def __init__(self, places: int, digits: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.quantum = Decimal(1).scaleb(-places)
        self.limit = 10**digits

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        if type(value) is Decimal or type(value) is int:
            exact = Decimal(value)
        elif type(value) is float and math.isfinite(value):
            # Only when the body hid the field's name from the exact parser (an escaped key).
            exact = Decimal(repr(value))
        else:
            raise self.make_error("invalid")
        if not exact.is_finite():
            raise self.make_error("invalid")
        if exact < 0 or exact >= self.limit:
            raise self.make_error("range", limit=self.limit)
        exact = exact.quantize(self.quantum, ROUND_HALF_UP)
        if exact >= self.limit:
            raise self.make_error("range", limit=self.limit)
        return f"{exact:f}"


_FRACTION = re.compile(r"[.,](\d+)")


class Timestamp(_DirectValidators, fields.Field):
    """ISO 8601 with a zone offset, not beyond the allowed clock skew nor past retention."""

    default_error_messages = {
        "invalid": "Not an ISO 8601 timestamp.",
        "naive": "Has no zone offset; add one, e.g. 2026-02-10T14:47:24Z or +01:00.",
        "offset": "Has a zone offset with seconds; give Z or whole minutes, e.g. +05:30.",
        "too_precise": (
            "Has more than 6 fractional digits: timestamps are kept to the microsecond, and a "
            "finer one would be merged with another reading. Send at most 6."
        ),
        "future": "Is more than {skew} s ahead of the server clock ({now}).",
        "expired": "Is older than the {days}-day retention (RETENTION_DAYS); it would be dropped.",
    }

    def __init__(
        self, clock: Callable[[], datetime], skew: timedelta, retention: timedelta, **kw: Any
    ) -> None:
        super().__init__(required=True, **kw)
        self.clock, self.skew, self.retention = clock, skew, retention

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> datetime:
        if not isinstance(value, str) or len(value) > 64:
            raise self.make_error("invalid")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        offset = moment.utcoffset()
        if offset is None:
            raise self.make_error("naive")
        if offset.seconds % 60 or offset.microseconds:
            raise self.make_error("offset")
        # Python reads any number of digits and silently drops those past the sixth.
        fraction = _FRACTION.search(value)
        if fraction and fraction[1][6:].strip("0"):
            raise self.make_error("too_precise")
        now = self.clock()
        if moment > now + self.skew:
            raise self.make_error(
                "future", skew=int(self.skew.total_seconds()), now=now.isoformat()
            )
        if moment < now - self.retention:
            raise self.make_error("expired", days=self.retention.days)
        return moment


def device_id(**kw: Any) -> fields.String:
    return String(required=True, validate=validate.Regexp(f"^{ID_PATTERN}\\Z", error=ID_RULE), **kw)


class UtcMoment(fields.AwareDateTime):
    """A moment with any zone offset Python reads, turned to UTC (PostgreSQL takes offsets up to
    15:59 only); one that leaves the calendar on the way is invalid, not a 500."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Out of the calendar's range once in UTC.") from exc

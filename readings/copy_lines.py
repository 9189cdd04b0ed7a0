"""A batch's records as the lines COPY reads into the writer's staging tables (readings/writer.py):
fields in record order, text escaped, numbers checked, so that nothing a stream entry holds can
shift a column."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from models.kinds import BY_CODE, ENERGY_PLACES, REGISTER_DIGITS
from readings.records import KIND, Record


class MalformedRecord(ValueError):
    """A record in the stream that is not a reading (it could only come from outside the API)."""


def copy_lines(records: Iterable[Record]) -> tuple[dict[str, list[str]], set[str]]:
    """COPY's lines, by kind's code: the record's fields in order, text escaped, numbers
    checked; and the codes of the kinds with register readings among them."""
    rows: dict[str, list[str]] = {}
    registered: set[str] = set()
    for record in records:
        try:
            kind = BY_CODE.get(record[KIND])
            if kind is None or len(record) != kind.record_length:
                # An interval reading's record ends before the register (Kind.record).
                if kind is None or not kind.register or len(record) != kind.record_length - 1:
                    raise MalformedRecord(f"not a reading of a known kind: {record!r:.200}")
                record = [*record, None]
            elif kind.register and record[-1] is not None:
                registered.add(kind.code)
            texts = 3 + len(kind.refs)
            numbers = texts + len(kind.quantities)
            line = "\t".join(
                [_field(v) for v in record[1:texts]]
                + [_number(v) for v in record[texts:numbers]]
                + [_register(v) for v in record[numbers:]]
            )
            rows.setdefault(kind.code, []).append(line + "\n")
        except (TypeError, KeyError, IndexError) as exc:
            raise MalformedRecord(f"not a reading: {record!r:.200}") from exc
    return rows, registered


def _field(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedRecord(f"expected a string, got {value!r:.100}")
    # IDs are validated at the API to a charset without these; escape anyway so that nothing
    # in a stream entry can ever shift COPY's columns.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")).replace(
            "\r", "\\r"
        )
    return value


def _number(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False or not isinstance(value, int | float):
        raise MalformedRecord(f"expected a number, got {value!r:.100}")
    if not math.isfinite(value):
        raise MalformedRecord(f"expected a finite number, got {value!r}")
    return repr(value)


_REGISTER = re.compile(rf"\d{{1,{REGISTER_DIGITS}}}(\.\d{{1,{ENERGY_PLACES}}})?")


def _register(value: Any) -> str:
    """A register travels as the exact decimal's text (readings/records.py)."""
    if value is None:
        return "\\N"
    if not isinstance(value, str) or not _REGISTER.fullmatch(value):
        raise MalformedRecord(f"expected a register's decimal text, got {value!r:.100}")
    return value

"""Writing a micro-batch: history appended once, current state moved only forward.

The caller owns the transaction; nothing here commits. Readings are COPYed into per-connection
staging tables and moved from there with set-based SQL, so the cost per reading is a line of
text in Python and the rest happens inside PostgreSQL.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from models import registers
from models.efficiency.formula import minute_of
from models.kinds import BY_CODE, ENERGY_PLACES, KINDS, REGISTER_DIGITS, Kind
from models.readings import KIND, Record
from models.registers import RegisterRule
from settings import get_settings


def _staging(kind: Kind) -> str:
    return f"stage_{kind.history_table}"


def _stage_sql(kind: Kind) -> str:
    columns = [
        "recorded_at timestamptz",
        f"{kind.id_column} text",
        *(f"{column} text" for column in kind.ref_columns),
        *(f"{q.name} numeric" for q in kind.quantities),
        *(f"{column} numeric" for column in kind.register_columns),
    ]
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {_staging(kind)} ({', '.join(columns)}) "
        "ON COMMIT DELETE ROWS;"
    )


def _staged_columns(kind: Kind) -> list[str]:
    return [
        "recorded_at",
        kind.id_column,
        *kind.ref_columns,
        *(q.name for q in kind.quantities),
        *kind.register_columns,
    ]


def _copy_sql(kind: Kind) -> str:
    return f"COPY {_staging(kind)} ({', '.join(_staged_columns(kind))}) FROM STDIN"


def _staged_values(kind: Kind) -> list[str]:
    """The staged columns as history stores them."""
    return [
        kind.id_column,
        *kind.ref_columns,
        *(q.stored(q.name) for q in kind.quantities),
        *kind.register_columns,
    ]


def _staged_least_first(kind: Kind) -> str:
    staged = {q.column: q.stored(q.name) for q in kind.quantities}
    return kind.least_first_sql(lambda column: staged.get(column, column))


def _least_first(kind: Kind, prefix: str) -> str:
    return kind.least_first_sql(lambda column: f"{prefix}.{column}")


# Two different readings with one identity (device, timestamp), a device's fault, are settled by
# their values, not by which arrived first: the one kept is the least (the register, energy,
# then the other fields in record order), in history and current state alike. Arrival order
# cannot settle it: entries are written by several consumers, and one that dies hands its
# entries to another later, so the first received is not always the first written. Values
# settle it the same way in any order, on any consumer, however often each is delivered.
# Rows go in key order so that two workers writing overlapping readings (a redelivery, a
# device's retry) take row locks in the same order and cannot deadlock. The row count is of
# readings new to history and of those that replaced a greater one (rare: a device's fault).
def _insert_sql(kind: Kind) -> str:
    columns = ["recorded_at", kind.id_column, *kind.stored_columns]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in kind.stored_columns)
    return (
        f"INSERT INTO {kind.history_table} AS h ({', '.join(columns)}) "
        f"SELECT DISTINCT ON (recorded_at, {kind.id_column}) "
        f"recorded_at, {', '.join(_staged_values(kind))} FROM {_staging(kind)} "
        f"ORDER BY recorded_at, {kind.id_column}, {_staged_least_first(kind)} "
        f"ON CONFLICT (recorded_at, {kind.id_column}) DO UPDATE SET {updates} "
        f"WHERE {_least_first(kind, 'EXCLUDED')} < {_least_first(kind, 'h')}"
    )


# A newer reading makes the newest the prior one, and the prior the one before it: kept for the
# register rule's next in-order reading (models/registers.py; other cases are set from history).
def _priors(kind: Kind) -> list[str]:
    if kind.register is None:
        return []
    advances, register = "s.recorded_at < EXCLUDED.recorded_at", kind.register.column
    return [
        f"{target} = CASE WHEN {advances} THEN s.{newer} ELSE s.{target} END"
        for target, newer in (
            ("prior_at", "recorded_at"),
            ("prior_register", register),
            ("prior2_at", "prior_at"),
            ("prior2_register", "prior_register"),
        )
    ]


# One row per device (the newest in the batch, the least of equals), and only over an older
# stored reading or a greater one of the same moment: late and redelivered readings never move
# current state backwards, and it keeps the reading history keeps. It also locks every device
# of the batch (ON CONFLICT locks the row it meets even when it leaves it as it is), which is
# what lets the register rule derive a device's intervals alone (models/registers.py).
def _upsert_sql(kind: Kind) -> str:
    columns = [kind.id_column, "recorded_at", *kind.stored_columns, "updated_at"]
    values = [kind.id_column, "recorded_at", *_staged_values(kind)[1:], "now()"]
    updates = ", ".join([f"{c} = EXCLUDED.{c}" for c in columns[1:]] + _priors(kind))
    return (
        f"INSERT INTO {kind.current_table} AS s ({', '.join(columns)}) "
        f"SELECT DISTINCT ON ({kind.id_column}) {', '.join(values)} "
        f"FROM {_staging(kind)} "
        f"ORDER BY {kind.id_column}, recorded_at DESC, {_staged_least_first(kind)} "
        f"ON CONFLICT ({kind.id_column}) DO UPDATE SET {updates} "
        "WHERE s.recorded_at < EXCLUDED.recorded_at OR (s.recorded_at = EXCLUDED.recorded_at "
        f"AND {_least_first(kind, 'EXCLUDED')} < {_least_first(kind, 's')})"
    )


@dataclass(frozen=True)
class _Statements:
    copy: str
    insert: str
    upsert: str
    # The register rule's: derive, then set on the staged and the stored readings; after the
    # insert, current state's prior readings where the upsert could not know them.
    derive: tuple[str, ...] = ()
    after_insert: tuple[str, ...] = ()


def _statements(kind: Kind) -> _Statements:
    statements = _Statements(_copy_sql(kind), _insert_sql(kind), _upsert_sql(kind))
    if kind.register is None:
        return statements
    staging = _staging(kind)
    derive = (registers.derive_sql(kind, staging), *registers.apply_sql(kind, staging))
    return replace(statements, derive=derive, after_insert=(registers.priors_sql(kind, staging),))


_STATEMENTS = {kind.code: _statements(kind) for kind in KINDS}
_STAGE = "\n".join(
    [_stage_sql(kind) for kind in KINDS]
    + [registers.create_sql(kind) for kind in KINDS if kind.register]
)
# Tells the refresh which minutes to recompute. Appended, never updated, so a worker never
# waits for a refresh that is consuming these rows.
_MARK_DIRTY = (
    f"INSERT INTO dirty_minutes (minute) SELECT DISTINCT {minute_of('recorded_at')} FROM ("
    + " UNION ALL ".join(f"SELECT recorded_at FROM {_staging(kind)}" for kind in KINDS)
    + ") staged"
)
_EMPTY_STAGING = "TRUNCATE " + ", ".join(
    [_staging(kind) for kind in KINDS]
    + [registers.derived_table(kind) for kind in KINDS if kind.register]
)


class MalformedRecord(ValueError):
    """A record in the stream that is not a reading (it could only come from outside the API)."""


@dataclass
class WriteResult:
    readings: int = 0
    # Readings new to history (or replacing a greater one of the same identity); the rest were
    # already stored (retries, redeliveries).
    inserted: int = 0

    @property
    def duplicates(self) -> int:
        return self.readings - self.inserted

    def add(self, other: WriteResult) -> None:
        self.readings += other.readings
        self.inserted += other.inserted


def write_batch(
    conn: Connection, records: Sequence[Record], rule: RegisterRule | None = None
) -> WriteResult:
    """Store a batch of normalised readings in the caller's transaction; register readings'
    intervals by `rule` (the settings' by default)."""
    params = (rule or RegisterRule.of(get_settings())).params()
    rows, registered = _copy_rows(records)
    result = WriteResult(readings=len(records))
    if not records:
        return result
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_STAGE)
        # Kinds in one fixed order, whatever the batch starts with: two consumers then lock
        # current-state rows in the same order and never deadlock each other.
        for kind in KINDS:
            lines = rows.get(kind.code)
            if not lines:
                continue
            statements = _STATEMENTS[kind.code]
            cursor.copy_expert(statements.copy, io.StringIO("".join(lines)))
            cursor.execute(statements.upsert)
            # The register rule's work only where the batch has register readings of the kind.
            derives = kind.code in registered
            for statement in statements.derive if derives else ():
                cursor.execute(statement, params)
            cursor.execute(statements.insert)
            result.inserted += cursor.rowcount
            for statement in statements.after_insert if derives else ():
                cursor.execute(statement)
        cursor.execute(_MARK_DIRTY)
        # Staging empties at commit; a savepoint that retries part of a batch must start clean.
        cursor.execute(_EMPTY_STAGING)
    finally:
        cursor.close()
    return result


def _copy_rows(records: Iterable[Record]) -> tuple[dict[str, list[str]], set[str]]:
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
    """A register travels as the exact decimal's text (models/readings.py)."""
    if value is None:
        return "\\N"
    if not isinstance(value, str) or not _REGISTER.fullmatch(value):
        raise MalformedRecord(f"expected a register's decimal text, got {value!r:.100}")
    return value

"""Writing a micro-batch: history appended once, current state moved only forward.

The caller owns the transaction; nothing here commits. Readings are COPYed into per-connection
staging tables and moved from there with set-based SQL, so the cost per reading is a line of
text in Python and the rest happens inside PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from models.kinds import KINDS, Kind
from readings import packed, registers
from readings.copy_lines import MalformedRecord, copy_lines
from readings.records import AT, Record, minute_of
from readings.registers import DEFAULT_RULE, RegisterRule

__all__ = ["MalformedRecord", "WriteResult", "write_batch"]


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
def _insert_sql(kind: Kind, source: str | None = None) -> str:
    columns = ["recorded_at", kind.id_column, *kind.stored_columns]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in kind.stored_columns)
    return (
        f"INSERT INTO {kind.history_table} AS h ({', '.join(columns)}) "
        f"SELECT DISTINCT ON (recorded_at, {kind.id_column}) "
        f"recorded_at, {', '.join(_staged_values(kind))} FROM {source or _staging(kind)} "
        f"ORDER BY recorded_at, {kind.id_column}, {_staged_least_first(kind)} "
        f"ON CONFLICT (recorded_at, {kind.id_column}) DO UPDATE SET {updates} "
        f"WHERE {_least_first(kind, 'EXCLUDED')} < {_least_first(kind, 'h')}"
    )


# One row per device (the newest in the batch, the least of equals), and only over an older
# stored reading or a greater one of the same moment: late and redelivered readings never move
# current state backwards, and it keeps the reading history keeps. It also locks every device
# of the batch (ON CONFLICT locks the row it meets even when it leaves it as it is), which is
# what lets the register rule derive a device's intervals alone (readings/registers.py).
# With registers_in_batch, it also moves the batch's register readings into current state's
# chain of recent ones (readings/registers.py). Without, the chain is left as it is: an interval
# reading that became the newest enters it with the next register reading, its register
# unknown, and a chain with an unknown register is read from history instead.
def _upsert_sql(kind: Kind, registers_in_batch: bool = False) -> str:
    staging = _staging(kind)
    columns = [kind.id_column, "recorded_at", *kind.stored_columns, "updated_at"]
    values = [f"{staging}.{kind.id_column}", "recorded_at", *_staged_values(kind)[1:], "now()"]
    updates = [f"{c} = EXCLUDED.{c}" for c in columns[1:]]
    source = staging
    if registers_in_batch:
        source, recent = registers.upsert_source(kind, staging)
        columns += ["recent_at", "recent_register"]
        values += recent
        updates += registers.recent_updates(kind)
    return (
        f"INSERT INTO {kind.current_table} AS s ({', '.join(columns)}) "
        f"SELECT DISTINCT ON ({staging}.{kind.id_column}) {', '.join(values)} "
        f"FROM {source} "
        f"ORDER BY {staging}.{kind.id_column}, recorded_at DESC, {_staged_least_first(kind)} "
        f"ON CONFLICT ({kind.id_column}) DO UPDATE SET {', '.join(updates)} "
        "WHERE s.recorded_at < EXCLUDED.recorded_at OR (s.recorded_at = EXCLUDED.recorded_at "
        f"AND {_least_first(kind, 'EXCLUDED')} < {_least_first(kind, 's')})"
    )


@dataclass(frozen=True)
class _Statements:
    copy: str
    insert: str
    upsert: str
    # For late readings (readings/packed.py): whether any day of the kind is packed between two
    # days, under the kind's shared lock; moving the devices' packed days back.
    packed_between: str
    unpack: str
    # For a batch with register readings (readings/registers.py), in this order: before the
    # upsert, the touched devices; the upsert that moves their chains along; the derivation and
    # the stored intervals it changed; history's insert with the derived intervals; and, after
    # it, the chains the upsert could not extend.
    registers: tuple[str, ...] = ()


def _statements(kind: Kind) -> _Statements:
    statements = _Statements(
        _copy_sql(kind),
        _insert_sql(kind),
        _upsert_sql(kind),
        packed.packed_between_sql(kind),
        packed.unpack_sql(kind, _staging(kind)),
    )
    if kind.register is None:
        return statements
    staging = _staging(kind)
    source = registers.staged_source(kind, staging, _staged_columns(kind))
    return replace(
        statements,
        registers=(
            registers.touched_sql(kind, staging),
            _upsert_sql(kind, registers_in_batch=True),
            registers.derive_sql(kind, staging),
            registers.apply_sql(kind),
            _insert_sql(kind, source),
            registers.history_recent_sql(kind, staging),
        ),
    )


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
    + [registers.touched_table(kind) for kind in KINDS if kind.register]
)


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
    conn: Connection, records: Sequence[Record], rule: RegisterRule = DEFAULT_RULE
) -> WriteResult:
    """Store a batch of normalised readings in the caller's transaction; register readings'
    intervals by `rule` (the worker gives its settings'; the defaults otherwise)."""
    params = rule.params()
    rows, registered = copy_lines(records)
    result = WriteResult(readings=len(records))
    if not records:
        return result
    late = packed.late(min(record[AT] for record in records), rule.pack_after_days, rule.neighbours)
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
            if late:
                # Late readings meet their device's days as history held them before packing.
                key = packed.lock_key(kind)
                cursor.execute(statements.packed_between, (key, late.first_day, late.last_day))
                if (cursor.fetchone() or (False,))[0]:
                    cursor.execute(
                        statements.unpack, {"span": rule.neighbours, "late": late.before}
                    )
            # The register rule's work only where the batch has register readings of the kind.
            if kind.code not in registered:
                cursor.execute(statements.upsert)
                cursor.execute(statements.insert)
                result.inserted += cursor.rowcount
                continue
            touched, upsert, derive, apply, insert, recent = statements.registers
            cursor.execute(touched)
            cursor.execute(upsert)
            cursor.execute(derive, params)
            cursor.execute(apply)
            cursor.execute(insert)
            result.inserted += cursor.rowcount
            cursor.execute(recent)
        cursor.execute(_MARK_DIRTY)
        # Staging empties at commit; a savepoint that retries part of a batch must start clean.
        cursor.execute(_EMPTY_STAGING)
    finally:
        cursor.close()
    return result

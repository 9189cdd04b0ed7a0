"""Storing stream entries, keeping every reading PostgreSQL accepts even when one is refused.

A reading that passed validation can still be refused by the database (a value beyond its column,
say). Retrying the batch would loop forever and dropping it would lose its neighbours, so the
batch is split in halves under savepoints until the refused readings stand alone; those become
dead letters, written in the same transaction as the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
import psycopg2.errorcodes
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, IntegrityError

from buffer import dead_letters
from buffer.dead_letters import WHOLE_ENTRY, Letter
from buffer.stream import Entry
from readings.records import Record
from readings.registers import DEFAULT_RULE, RegisterRule
from readings.writer import MalformedRecord, WriteResult, write_batch

# SQLSTATE classes 22 (data exception) and 23 (integrity violation): this reading, not the
# database's state, is the problem. The writer's COPY path raises psycopg2's own classes.
REFUSED = (DataError, IntegrityError, psycopg2.DataError, psycopg2.IntegrityError, MalformedRecord)


class PartitionMoved(Exception):
    """A row was routed to a partition that changed under it (a day partition being attached):
    the database's state at that moment, not the reading, so the batch is written again."""


@dataclass
class Stored:
    written: WriteResult
    # Dead letters this transaction wrote (a letter written before, by another consumer that
    # processed the same entry, is not counted again).
    dead_lettered: int = 0


Item = tuple[str, int, Record]  # entry id, index in the entry, reading


def store_entries(
    conn: Connection, entries: list[Entry], rule: RegisterRule = DEFAULT_RULE
) -> Stored:
    """Write the entries' readings, and letters for what was refused, in the caller's
    transaction; registers' intervals by `rule` (the worker's settings')."""
    letters = _undecodable(entries, "stream entry is not a JSON array of readings")
    items = [(e.id, i, record) for e in entries for i, record in enumerate(e.records)]
    total = WriteResult()
    _store(conn, items, letters, total, rule)
    return Stored(total, dead_letters.record(conn, letters))


def dead_letter_entries(conn: Connection, entries: list[Entry], error: str) -> Stored:
    """Every reading of the entries becomes a letter with `error`: for entries that fail for a
    reason no retry fixes, after MAX_DELIVERIES attempts."""
    letters = [
        Letter(0, e.id, i, record, error) for e in entries for i, record in enumerate(e.records)
    ]
    letters += _undecodable(entries, error)
    return Stored(WriteResult(), dead_letters.record(conn, letters))


def _undecodable(entries: list[Entry], error: str) -> list[Letter]:
    """A letter for each entry that holds no readings, with its raw text."""
    return [
        Letter(0, e.id, WHOLE_ENTRY, e.undecodable.decode("utf-8", "replace"), e.problem or error)
        for e in entries
        if e.undecodable is not None
    ]


def _store(
    conn: Connection,
    items: list[Item],
    letters: list[Letter],
    total: WriteResult,
    rule: RegisterRule,
) -> None:
    if not items:
        return
    savepoint = conn.begin_nested()
    try:
        result = write_batch(conn, [record for _, _, record in items], rule)
    except REFUSED as exc:
        savepoint.rollback()
        if _partition_moved(exc):
            raise PartitionMoved(_reason(exc)) from exc
        if len(items) == 1:
            entry_id, position, record = items[0]
            letters.append(Letter(0, entry_id, position, record, _reason(exc)))
            return
        half = len(items) // 2
        _store(conn, items[:half], letters, total, rule)
        _store(conn, items[half:], letters, total, rule)
        return
    savepoint.commit()
    total.add(result)


def _partition_moved(exc: Exception) -> bool:
    # 23514 is also the code of an ordinary CHECK constraint, but history has none: on these
    # tables it means a row met a partition's bounds that were not there when it was routed.
    original = getattr(exc, "orig", None) or exc
    return getattr(original, "pgcode", None) == psycopg2.errorcodes.CHECK_VIOLATION


def _reason(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:500]

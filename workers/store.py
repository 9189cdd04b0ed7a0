"""Storing stream entries, keeping every reading PostgreSQL accepts even when one is refused.

A reading that passed validation can still be refused by the database (a value beyond its column,
say). Retrying the batch would loop forever and dropping it would lose its neighbours, so the
batch is split in halves under savepoints until the refused readings stand alone; those become
dead letters, acknowledged together with the rest.
"""

from __future__ import annotations

import psycopg2
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, IntegrityError

from models.history import MalformedRecord, WriteResult, write_batch
from models.readings import Record
from models.stream import DeadLetter, Entry

# SQLSTATE classes 22 (data exception) and 23 (integrity violation): this reading, not the
# database's state, is the problem. The writer's COPY path raises psycopg2's own classes.
REFUSED = (DataError, IntegrityError, psycopg2.DataError, psycopg2.IntegrityError, MalformedRecord)


def store_entries(
    conn: Connection, entries: list[Entry]
) -> tuple[WriteResult, dict[str, list[DeadLetter]]]:
    """Write the entries' readings in the caller's transaction; return what was refused."""
    dead: dict[str, list[DeadLetter]] = {}
    for entry in entries:
        if entry.undecodable is not None:
            text = entry.undecodable.decode("utf-8", "replace")
            dead[entry.id] = [DeadLetter(text, "stream entry is not a JSON array of readings")]
    items = [(entry.id, record) for entry in entries for record in entry.records]
    total = WriteResult()
    _store(conn, items, dead, total)
    return total, dead


def _store(
    conn: Connection,
    items: list[tuple[str, Record]],
    dead: dict[str, list[DeadLetter]],
    total: WriteResult,
) -> None:
    if not items:
        return
    savepoint = conn.begin_nested()
    try:
        result = write_batch(conn, [record for _, record in items])
    except REFUSED as exc:
        savepoint.rollback()
        if len(items) == 1:
            entry_id, record = items[0]
            dead.setdefault(entry_id, []).append(DeadLetter(record, _reason(exc)))
            return
        half = len(items) // 2
        _store(conn, items[:half], dead, total)
        _store(conn, items[half:], dead, total)
        return
    savepoint.commit()
    total.meters += result.meters
    total.vehicles += result.vehicles
    total.inserted += result.inserted


def _reason(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    return " ".join(str(original).split())[:500]

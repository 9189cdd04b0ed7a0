"""Readings the database refused, kept in PostgreSQL: listed and replayed by operators.

A letter is written in the same transaction as the rest of its batch, keyed like history by the
reading's identity (kind, device, timestamp), so it exists exactly when the batch committed and
only once however many consumers processed its entry, or however often it was replayed while its
first delivery was still pending. It sits on disk, not in the Redis memory the buffer needs.
Replaying puts the reading back on the ingest stream, through the same bounded add as a request,
and only then deletes the letter: a crash in between leaves the reading both queued and
dead-lettered, and since history inserts are idempotent a second replay stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

from buffer.stream import IngestStream
from readings.records import AT, DEVICE_ID, KIND

# The reading's index in its entry when a whole entry is the letter (it held no readings).
WHOLE_ENTRY = -1


@dataclass
class Letter:
    id: int
    entry: str  # the ingest stream entry the reading came in
    position: int
    record: Any  # the reading as queued, or the entry's raw text when it was not readings
    error: str
    created_at: datetime | None = None

    @property
    def replayable(self) -> bool:
        return isinstance(self.record, list)

    @property
    def key(self) -> str:
        """The reading's identity, as history's primary key; the entry's for anything else."""
        r = self.record
        if isinstance(r, list) and len(r) > DEVICE_ID and all(isinstance(v, str) for v in r[:3]):
            return f"{r[KIND]}|{r[DEVICE_ID]}|{r[AT]}"
        return f"entry|{self.entry}|{self.position}"

    def view(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "created_at"}
        out["createdAt"] = self.created_at.isoformat() if self.created_at else None
        return out


_INSERT = """
INSERT INTO dead_letters (reading_key, entry_id, position, record, error)
SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:entries AS text[]), CAST(:positions AS int[]),
                     CAST(:records AS text[]), CAST(:errors AS text[]))
ON CONFLICT (reading_key) DO NOTHING
"""


def record(conn: Connection, letters: Sequence[Letter]) -> int:
    """Write letters in the caller's transaction; how many were new (not written before)."""
    if not letters:
        return 0
    result = conn.execute(
        text(_INSERT),
        {
            "keys": [letter.key for letter in letters],
            "entries": [letter.entry for letter in letters],
            "positions": [letter.position for letter in letters],
            "records": [_encode(letter.record) for letter in letters],
            "errors": [letter.error for letter in letters],
        },
    )
    return int(result.rowcount)


def list_letters(conn: Connection, count: int = 100, after: int = 0) -> list[Letter]:
    """The oldest `count` dead letters with an id above `after`, oldest first."""
    rows = conn.execute(
        text(
            "SELECT id, entry_id, position, record, error, created_at FROM dead_letters "
            "WHERE id > :after ORDER BY id LIMIT :count"
        ),
        {"after": after, "count": count},
    )
    return [
        Letter(r.id, r.entry_id, r.position, _decode(r.record), r.error, r.created_at) for r in rows
    ]


def count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one())


def replay(
    engine: Engine, stream: IngestStream, letters: list[Letter], bound: int
) -> tuple[int, int]:
    """Queue each replayable letter's reading again; (replayed, skipped). Raises BufferFull."""
    replayed = skipped = 0
    for letter in letters:
        if not letter.replayable:
            skipped += 1
            continue
        stream.add([letter.record], bound)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM dead_letters WHERE id = :id"), {"id": letter.id})
        replayed += 1
    return replayed, skipped


def _encode(value: Any) -> str:
    # JSON text whatever the value: a NUL or a stray byte in a record cannot make the letter fail.
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return orjson.dumps(value).decode()


def _decode(value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value

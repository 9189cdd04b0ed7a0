"""Readings the database refused, kept in a stream of their own: listed and replayed by operators.

A dead letter holds the reading (as queued) and the database's error. Replaying puts the reading
back on the ingest stream, through the same bounded add as a request, and only then deletes the
letter: a crash in between leaves the reading both queued and dead-lettered, and since history
inserts are idempotent a second replay stores nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from models.stream import IngestStream


@dataclass
class Letter:
    id: str
    entry: str  # the ingest stream entry the reading came in
    record: Any
    error: str

    @property
    def replayable(self) -> bool:
        # Raw text that never decoded to readings has nothing to put back on the stream.
        return isinstance(self.record, list)


def list_letters(stream: IngestStream, count: int = 100, after: str = "-") -> list[Letter]:
    """The oldest `count` dead letters after id `after` (exclusive), oldest first."""
    start = after if after == "-" else f"({after}"
    letters = []
    entries: Any = stream.redis.xrange(stream.dead_key, min=start, count=count)
    for letter_id, fields in entries:
        body = orjson.loads(fields[b"letter"])
        letters.append(
            Letter(letter_id.decode(), fields[b"entry"].decode(), body["record"], body["error"])
        )
    return letters


def replay(stream: IngestStream, letters: list[Letter], bound: int) -> tuple[int, int]:
    """Queue each replayable letter's reading again; (replayed, skipped). Raises BufferFull."""
    replayed = skipped = 0
    for letter in letters:
        if not letter.replayable:
            skipped += 1
            continue
        stream.add([letter.record], bound)
        stream.redis.xdel(stream.dead_key, letter.id)
        replayed += 1
    return replayed, skipped

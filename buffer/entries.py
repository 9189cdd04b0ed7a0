"""Ingest stream entries as workers read them: the entry's fields decoded into its readings, or,
for one this worker cannot read, the reason kept beside its raw payload for the dead letter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from readings.records import Record, decode

# What each entry's `v` says its payload is: readings.encode's array of records. A worker reads
# the format it knows, and an entry with no `v` (written before entries carried one) as format 1;
# a change to the records' layout that an older worker would misread takes the next number, and
# is rolled out workers first (docs/OPERATIONS.md, "Upgrading").
ENTRY_FORMAT = 1
_FORMAT = str(ENTRY_FORMAT).encode()


@dataclass
class Entry:
    id: str
    records: list[Record]
    # Readings the entry counted in the backlog when it was added.
    size: int
    # Raw payload, kept when it could not be decoded, so it can be dead-lettered as it was.
    undecodable: bytes | None = None
    # How many times the group has handed this entry to a consumer, this time included.
    deliveries: int = 1
    # Why it could not be read, when the reason is not its payload's JSON (a newer format).
    problem: str | None = None

    @property
    def added_ms(self) -> int:
        return int(self.id.split("-", 1)[0])


def text_of(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: list[bytes] | dict[bytes, bytes] | None) -> dict[bytes, bytes]:
    if isinstance(flat, dict) or flat is None:
        return flat or {}
    return dict(zip(flat[::2], flat[1::2], strict=False))


def reply_entries(reply: Any) -> list[Entry]:
    """Entries of an XREADGROUP reply, whether redis-py parsed it or a script passed it on."""
    if not reply:
        return []
    return [entry_of(i, f) for i, f in reply[0][1]]


def entry_of(
    entry_id: bytes | str, fields: list[bytes] | dict[bytes, bytes] | None, deliveries: int = 1
) -> Entry:
    """An entry as read. One that is not what the add script writes (put there by hand, say)
    becomes an undecodable entry to dead-letter, never an error that stalls the readers."""
    entry_id, fields = text_of(entry_id), _pairs(fields)
    if not fields:
        return Entry(entry_id, [], 0, deliveries=deliveries)
    payload = fields.get(b"r", b"")
    try:
        size = int(fields.get(b"n", 0))
    except ValueError:
        return Entry(entry_id, [], 0, undecodable=_raw(fields), deliveries=deliveries)
    form = fields.get(b"v", b"1")
    if form != _FORMAT:
        problem = (
            f"stream entry format {text_of(form)} is not the one this worker reads "
            f"({ENTRY_FORMAT}): a web process newer than the workers wrote it (upgrade the "
            "workers before the web tier)"
        )
        return Entry(entry_id, [], size, payload, deliveries, problem)
    try:
        return Entry(entry_id, decode(payload), size, deliveries=deliveries)
    except ValueError:
        return Entry(entry_id, [], size, undecodable=payload, deliveries=deliveries)


def _raw(fields: dict[bytes, bytes]) -> bytes:
    return b" ".join(k + b"=" + v for k, v in fields.items())

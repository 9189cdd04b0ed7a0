"""One device's raw history, read back in time order, a page at a time (keyset on the reading's
time, which is unique per device), so a month of readings never sits in memory at once.

A device's rows are found through history's index by device and time, and its packed days by
their own (readings/packed.py), from the page's first day on: a page costs what it returns, at any
fleet size. The page stops at the device's newest reading (its current state) and the query runs
under a statement timeout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from models.kinds import Kind
from readings import packed


def page(
    conn: Connection,
    kind: Kind,
    device_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: datetime | None = None,
    timeout_seconds: float = 10.0,
) -> list[Any]:
    """Up to `limit` readings of the device in [start, end) (after `after`, if given), oldest
    first. Past `timeout_seconds` PostgreSQL cancels it (psycopg2's QueryCanceled)."""
    current, key = kind.current_table, kind.id_column
    columns = ", ".join(("recorded_at", *kind.stored_columns))
    since = "greatest(:start, :after)" if after else ":start"
    history = packed.rows_sql(kind, lo=since, hi=":end", device=":id")
    past = "recorded_at > :after AND " if after else ""
    # One round trip: the statements of one query string are one transaction, where SET LOCAL
    # holds (through a pooler in transaction mode too).
    rows = conn.execute(
        text(
            f"SET LOCAL statement_timeout = {int(timeout_seconds * 1000)}; "
            f"SELECT {columns} FROM {history} h WHERE {past}recorded_at <= COALESCE("
            f"(SELECT recorded_at FROM {current} WHERE {key} = :id), '-infinity') "
            "ORDER BY recorded_at LIMIT :limit"
        ),
        {"id": device_id, "start": start, "end": end, "after": after, "limit": limit},
    ).all()
    return [row._mapping for row in rows]

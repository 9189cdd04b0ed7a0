"""Day partitions of history (and of per-minute contributions): made ahead, dropped when expired.

A reading whose day has no partition yet is stored in the table's default partition, never
refused; making that day's partition moves such rows into it. Retention drops whole
partitions, so old history goes without a DELETE or the bloat one leaves.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, Engine, text

from models.schema import PARTITIONED

log = logging.getLogger(__name__)

TIME_COLUMN = {
    "meter_readings": "recorded_at",
    "vehicle_readings": "recorded_at",
    "vehicle_minute_contributions": "minute",
}
_SUFFIX = re.compile(r"_p(\d{8})$")


@dataclass
class MaintenanceResult:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    moved_rows: int = 0


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def existing_days(conn: Connection, table: str) -> set[date]:
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:t AS regclass)"
        ),
        {"t": table},
    ).scalars()
    days = set()
    for name in names:
        match = _SUFFIX.search(name)
        if match:
            days.add(date(int(match[1][:4]), int(match[1][4:6]), int(match[1][6:])))
    return days


def days_in_default(conn: Connection, table: str) -> set[date]:
    column = TIME_COLUMN[table]
    rows = conn.execute(
        text(f"SELECT DISTINCT CAST(date_trunc('day', {column}) AS date) FROM {table}_default")
    ).scalars()
    return set(rows)


def create_partition(conn: Connection, table: str, day: date) -> int:
    """Make the day's partition, moving any of its rows out of the default one. Returns moved."""
    name, column = partition_name(table, day), TIME_COLUMN[table]
    start, end = (
        f"'{day.isoformat()} 00:00:00+00'",
        f"'{(day + timedelta(days=1)).isoformat()} 00:00:00+00'",
    )
    # Inserts into the default partition wait for these few statements, so none can slip a row
    # for this day in between the move and the attach.
    conn.execute(text("SET LOCAL lock_timeout = '10s'"))
    conn.execute(text(f"LOCK TABLE {table}_default IN ACCESS EXCLUSIVE MODE"))
    conn.execute(
        text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    where = f"{column} >= {start} AND {column} < {end}"
    moved = conn.execute(text(f"INSERT INTO {name} SELECT * FROM {table}_default WHERE {where}"))
    conn.execute(text(f"DELETE FROM {table}_default WHERE {where}"))
    conn.execute(
        text(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})")
    )
    return moved.rowcount


def maintain(
    engine: Engine, today: date, days_ahead: int, retention_days: int
) -> MaintenanceResult:
    """Create the coming days' partitions and those the default holds rows for; drop expired ones.

    Each partition is its own short transaction, so the locks it takes are held for moments.
    """
    result = MaintenanceResult()
    oldest_kept = today - timedelta(days=retention_days)
    wanted = {today + timedelta(days=n) for n in range(-1, days_ahead + 1)}
    for table in PARTITIONED:
        with engine.begin() as conn:
            existing = existing_days(conn, table)
            wanted_here = wanted | days_in_default(conn, table)
        for day in sorted(wanted_here - existing):
            with engine.begin() as conn:
                result.moved_rows += create_partition(conn, table, day)
            result.created.append(partition_name(table, day))
        for day in sorted(d for d in existing if d < oldest_kept):
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(table, day)}"))
            result.dropped.append(partition_name(table, day))
    if result.created or result.dropped:
        log.info(
            "event=partitions created=%d dropped=%d moved_rows=%d",
            len(result.created),
            len(result.dropped),
            result.moved_rows,
        )
    return result

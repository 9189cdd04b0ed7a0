"""Day partitions of history (and of per-minute contributions): made ahead, dropped when expired.

Every day a reading can be accepted for (RETENTION_DAYS back, at most PARTITION_DAYS_BACK, and
PARTITION_DAYS_AHEAD ahead, by the database's clock) has its partition before the reading comes,
so ingest writes straight into it and never waits on a partition being made. A reading whose day
has no partition yet (maintenance stopped for days, or a day further back) is stored in the
table's default partition, never refused; making that day's partition moves such rows into it,
copying them before it locks the default partition so that writers wait only for the rows that
came meanwhile.
Retention drops whole partitions, judged by the database's clock, never a worker's: a host whose
clock jumps a month ahead cannot drop today's history.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, Engine, text

from models.schema import PARTITIONED
from storage import db

log = logging.getLogger(__name__)

_SUFFIX = re.compile(r"_p(\d{8})$")
# Days back made in advance unless told (PARTITION_DAYS_BACK): beyond a year, the default
# partition takes what comes.
PREMADE_DAYS_MAX = 370


# Advisory lock key (storage/db.transaction_lock): one maintenance at a time across every host.
LOCK_KEY = 0x45565F50  # "EV_P"


@dataclass
class MaintenanceResult:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    moved_rows: int = 0
    # The first day kept: what is older went with its partitions (jobs.maintain_partitions
    # forgets what was built from it).
    oldest_kept: date | None = None
    # Another run (another host's beat, an operator's command) held the lock: nothing done.
    skipped: bool = False


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
    column = PARTITIONED[table]
    rows = conn.execute(
        text(f"SELECT DISTINCT CAST(date_trunc('day', {column}) AS date) FROM {table}_default")
    ).scalars()
    return set(rows)


def database_today(conn: Connection) -> date:
    """Today in UTC by the database's clock, the one clock every host shares."""
    return conn.execute(text("SELECT CAST(now() AT TIME ZONE 'UTC' AS date)")).scalar_one()


def accepted_days(
    today: date, days_ahead: int, retention_days: int, days_back: int = PREMADE_DAYS_MAX
) -> set[date]:
    back = min(retention_days, days_back)
    return {today + timedelta(days=n) for n in range(-back, days_ahead + 1)}


def day_bounds(day: date) -> tuple[str, str]:
    """The day's partition bounds as SQL timestamptz literals: [midnight, next midnight) UTC."""
    return (
        f"'{day.isoformat()} 00:00:00+00'",
        f"'{(day + timedelta(days=1)).isoformat()} 00:00:00+00'",
    )


def create_partition(conn: Connection, table: str, day: date) -> int:
    """Make the day's partition, moving any of its rows out of the default one. Returns moved."""
    name, column = partition_name(table, day), PARTITIONED[table]
    start, end = day_bounds(day)
    where = f"{column} >= {start} AND {column} < {end}"
    move = (
        f"WITH moved AS (DELETE FROM {table}_default WHERE {where} RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved"
    )
    conn.execute(text("SET LOCAL lock_timeout = '10s'"))
    conn.execute(
        text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    # The bulk of the day's rows, while writers go on; then, with the default partition locked
    # (attaching locks it anyway), only the rows that came in meanwhile.
    moved = conn.execute(text(move)).rowcount
    conn.execute(text(f"LOCK TABLE {table}_default IN ACCESS EXCLUSIVE MODE"))
    moved += conn.execute(text(move)).rowcount
    conn.execute(
        text(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})")
    )
    return moved


def maintain(
    engine: Engine,
    days_ahead: int,
    retention_days: int,
    today: date | None = None,
    days_back: int = PREMADE_DAYS_MAX,
) -> MaintenanceResult:
    """Create the partitions of every accepted day and of days the default holds rows for; drop
    those past retention. `today` is the database's unless given (tests pin it).

    Each partition is its own short transaction, so the locks it takes are held for moments.
    One run at a time across hosts: a guard transaction holds the lock meanwhile.
    """
    with engine.connect() as guard, guard.begin():
        if not db.transaction_lock(guard, LOCK_KEY, wait=False):
            return MaintenanceResult(skipped=True)
        return _maintain(engine, days_ahead, retention_days, today, days_back)


def _maintain(
    engine: Engine, days_ahead: int, retention_days: int, today: date | None, days_back: int
) -> MaintenanceResult:
    result = MaintenanceResult()
    if today is None:
        with engine.connect() as conn:
            today = database_today(conn)
    oldest_kept = today - timedelta(days=retention_days)
    wanted = accepted_days(today, days_ahead, retention_days, days_back)
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
    result.oldest_kept = oldest_kept
    if result.created or result.dropped:
        log.info(
            "event=partitions today=%s created=%d dropped=%d moved_rows=%d",
            today,
            len(result.created),
            len(result.dropped),
            result.moved_rows,
        )
    return result

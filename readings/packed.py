"""Packed history: a closed day of a device's readings as one row of arrays (docs/DESIGN.md,
"Packed history").

History older than PACK_AFTER_DAYS is moved, a share of a day's devices at a time, from its day
partition into `packed_<history>` (models/schema.py): per (day, device) the moments as
microseconds since the UTC day began, numerics as integer millionths, the rest as stored, each
array in time order and compressed by PostgreSQL as one value. A share is moved by one statement
(the rows it deletes are the rows it packs: one snapshot), so no reading is lost or packed twice.

Every read of history goes through `rows_sql`, the unpacked rows and the packed ones unnested,
with the history table's columns and values: a read answers the same before and after a packing.

A reading that comes late for a packed day (or whose register neighbours lie in one) first has
its device's packed days around it moved back into history by the writer (`unpack_sql`), in the
batch's transaction; then it is written as any other, so its identity and the least-by-value
rule hold as they do in history, and the next packing packs the day again. The writer holds a
shared advisory lock of its kind for that, the packing job an exclusive one for each share: a
late reading waits for one share at most, a live one never.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects import postgresql

from models.kinds import KINDS, REGISTER, Kind
from models.schema import PackedArray, packed_arrays, packed_table
from storage import partitions

# Advisory locks per kind: a packing share holds its kind's exclusively, a late writer shared.
LOCK_KEYS = {"meter": 0x45565F4D, "vehicle": 0x45565F56}  # "EV_M", "EV_V"
LOCK_BASE = 0x45565F00


def lock_key(kind: Kind) -> int:
    return LOCK_KEYS.get(kind.name, LOCK_BASE + sum(map(ord, kind.name)) % 0xFF)


def packed_before(today: date, pack_after_days: int) -> date:
    """The first day left unpacked: days before it are packed."""
    return today - timedelta(days=pack_after_days)


def late_before(today: date, pack_after_days: int) -> datetime:
    """Readings (and their register neighbours) before this moment may meet a packed day: one
    day more than is packed, so that hosts whose clocks straddle midnight still agree."""
    first = packed_before(today, pack_after_days) + timedelta(days=1)
    return datetime.combine(first, time(), UTC)


@dataclass(frozen=True)
class Late:
    """A batch's late readings: the moment before which a reading is late (unpack_sql's
    :late), and the days they or their neighbours may fall in (packed_between_sql's)."""

    before: datetime
    first_day: date
    last_day: date


def late(earliest: str, pack_after_days: int, neighbours: timedelta) -> Late | None:
    """Whether a batch whose earliest moment is `earliest` (UTC ISO text, records.utc_iso) may
    meet a packed day, by this host's clock; None for a batch of live readings."""
    before = late_before(datetime.now(UTC).date(), pack_after_days) + neighbours
    # UTC ISO text sorts as time does: no parsing for the batches that are not late.
    if earliest >= before.isoformat():
        return None
    first_day = (datetime.fromisoformat(earliest) - neighbours).date()
    return Late(before, first_day, (before + neighbours).date())


def _sql_type(array: PackedArray, kind: Kind) -> str:
    types = {q.column: q.sql_type for q in kind.quantities}
    return str(types.get(array.column, REGISTER).compile(dialect=postgresql.dialect()))


def _decoded(array: PackedArray, kind: Kind, day: str) -> str:
    """SQL: the history value of `u.<array>` (one element, unnested), as history's column."""
    if array.column == "recorded_at":
        return f"({day}::timestamp + u.at_us * interval '1 microsecond') AT TIME ZONE 'UTC'"
    if array.micro:
        return f"(u.{array.name}::numeric * 0.000001)::{_sql_type(array, kind)}"
    return f"u.{array.name}"


def _encoded(array: PackedArray, day: str) -> str:
    """SQL: the array of a (device, day) group of history rows, in time order."""
    if array.column == "recorded_at":
        since = f"recorded_at - ({day}::timestamp AT TIME ZONE 'UTC')"
        value = f"(extract(epoch FROM {since}) * 1000000)::bigint"
    elif array.micro:
        value = f"({array.column} * 1000000)::bigint"
    else:
        value = array.column
    return f"array_agg({value} ORDER BY recorded_at)"


def columns(kind: Kind) -> list[str]:
    """History's columns, in the order `rows_sql` gives them."""
    return ["recorded_at", kind.id_column, *kind.stored_columns]


def _utc_day(moment: str) -> str:
    return f"(({moment}) AT TIME ZONE 'UTC')::date"


def rows_sql(
    kind: Kind,
    *,
    lo: str | None = None,
    hi: str | None = None,
    hi_inclusive: bool = False,
    device: str | None = None,
) -> str:
    """SQL: a parenthesised subquery (alias it) of the kind's history, unpacked and packed
    alike, with `columns(kind)`: its readings at or after `lo` and before `hi` (at or before,
    with hi_inclusive), of `device` if given; each an SQL expression (a parameter, a column of an
    enclosing query). The bounds are applied in both halves, so each reads only its days."""
    table, packed, key = kind.history_table, packed_table(kind), kind.id_column
    upper = "<=" if hi_inclusive else "<"
    raw, kept, days = [], [], []
    if device is not None:
        raw.append(f"{key} = {device}")
        days.append(f"p.{key} = {device}")
    if lo is not None:
        raw.append(f"recorded_at >= {lo}")
        kept.append(f"u.recorded_at >= {lo}")
        days.append(f"p.day >= {_utc_day(lo)}")
    if hi is not None:
        raw.append(f"recorded_at {upper} {hi}")
        kept.append(f"u.recorded_at {upper} {hi}")
        days.append(f"p.day <= {_utc_day(hi)}")
    arrays = packed_arrays(kind)
    unnested = ", ".join(f"p.{a.name}" for a in arrays)
    names = ", ".join(a.name for a in arrays)
    decoded = ", ".join(f"{_decoded(a, kind, 'p.day')} AS {a.column}" for a in arrays)
    stored = ", ".join(kind.stored_columns)
    return (
        f"(SELECT recorded_at, {key}, {stored} FROM {table}{_where(raw)} "
        f"UNION ALL "
        f"SELECT u.recorded_at, p.{key}, {', '.join(f'u.{c}' for c in kind.stored_columns)} "
        f"FROM {packed} p CROSS JOIN LATERAL ("
        f"SELECT {decoded} FROM unnest({unnested}) AS u({names})"
        f") u{_where(days + kept)})"
    )


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def pack_sql(kind: Kind) -> str:
    """SQL packing the readings of the day [:lo, :hi) of devices from :first to before :next
    (by ID; NULL: no bound) into their day rows, in one statement: what it deletes is what it
    packs. A day row already there would mean the day was packed with the device's rows left
    behind: the primary key refuses it rather than keep two."""
    table, packed, key = kind.history_table, packed_table(kind), kind.id_column
    arrays = packed_arrays(kind)
    return (
        f"WITH moved AS (DELETE FROM {table} WHERE recorded_at >= :lo AND recorded_at < :hi "
        f"AND (CAST(:first AS text) IS NULL OR {key} >= :first) "
        f"AND (CAST(:next AS text) IS NULL OR {key} < :next) RETURNING *) "
        f"INSERT INTO {packed} (day, {key}, readings, {', '.join(a.name for a in arrays)}) "
        f"SELECT CAST(:day AS date), {key}, count(*), "
        f"{', '.join(_encoded(a, 'CAST(:day AS date)') for a in arrays)} "
        f"FROM moved GROUP BY {key} RETURNING readings"
    )


def packed_between_sql(kind: Kind) -> str:
    """SQL (psycopg2, three positional parameters: the lock key, the first and last day): take
    the kind's shared lock, and say whether any of its days between the two is packed."""
    return (
        "SELECT pg_advisory_xact_lock_shared(%s); "
        f"SELECT EXISTS (SELECT FROM {packed_table(kind)} WHERE day BETWEEN %s AND %s)"
    )


def unpack_sql(kind: Kind, staging: str) -> str:
    """SQL moving back into history the packed days of the staged devices that their late
    readings, and their register neighbours up to :span before and after, fall in (:late:
    readings from then on are not late). psycopg2 parameters."""
    table, packed, key = kind.history_table, packed_table(kind), kind.id_column
    arrays = packed_arrays(kind)
    names = ", ".join(a.name for a in arrays)
    moment, *values = (_decoded(a, kind, "g.day") for a in arrays)
    decoded = ", ".join([moment, f"g.{key}", *values])
    return (
        f"WITH days AS (SELECT DISTINCT s.{key} AS device, d::date AS day FROM {staging} s, "
        "generate_series(((s.recorded_at - %(span)s) AT TIME ZONE 'UTC')::date, "
        "((s.recorded_at + %(span)s) AT TIME ZONE 'UTC')::date, interval '1 day') d "
        "WHERE s.recorded_at - %(span)s < %(late)s), "
        f"gone AS (DELETE FROM {packed} p USING days WHERE p.day = days.day "
        f"AND p.{key} = days.device RETURNING p.*) "
        f"INSERT INTO {table} (recorded_at, {key}, {', '.join(kind.stored_columns)}) "
        f"SELECT {decoded} FROM gone g CROSS JOIN LATERAL unnest("
        f"{', '.join(f'g.{a.name}' for a in arrays)}) AS u({names}) "
        # Never met: a device's day is packed whole (pack_sql), and late writers wait for it.
        f"ON CONFLICT (recorded_at, {key}) DO NOTHING"
    )


# Devices per packing transaction: a late reading of the kind waits for one share at most.
SHARE = 250


@dataclass
class PackResult:
    days: list[str] = field(default_factory=list)
    readings: int = 0
    device_days: int = 0


def pack(engine: Engine, pack_after_days: int) -> PackResult:
    """Pack every day before the last `pack_after_days` (by the database's clock) that has
    unpacked readings, oldest first, a share of devices per transaction; then let VACUUM give
    the emptied pages back."""
    result = PackResult()
    with engine.connect() as conn:
        today = conn.execute(text("SELECT (now() AT TIME ZONE 'UTC')::date")).scalar_one()
    before = packed_before(today, pack_after_days)
    for kind in KINDS:
        for day in _unpacked_days(engine, kind, before):
            readings, devices = _pack_day(engine, kind, day)
            result.days.append(f"{kind.history_table} {day}")
            result.readings += readings
            result.device_days += devices
            _vacuum(engine, kind, day)
    return result


def _unpacked_days(engine: Engine, kind: Kind, before: date) -> list[date]:
    """The days before `before` with rows in history: their partitions that are not empty, and
    the days of the default partition's rows."""
    table = kind.history_table
    with engine.connect() as conn:
        days = {
            day
            for day in partitions.existing_days(conn, table)
            if day < before
            and conn.execute(
                text(f"SELECT EXISTS (SELECT FROM {partitions.partition_name(table, day)})")
            ).scalar_one()
        }
        default = conn.execute(text("SELECT to_regclass(:t)"), {"t": f"{table}_default"})
        if default.scalar_one() is not None:
            days |= {day for day in partitions.days_in_default(conn, table) if day < before}
    return sorted(days)


def _pack_day(engine: Engine, kind: Kind, day: date) -> tuple[int, int]:
    key, current = kind.id_column, kind.current_table
    with engine.connect() as conn:
        # Shares by the devices known, every SHARE-th ID a boundary; the first and last shares
        # are open, so a device missing from current state is still packed.
        bounds = (
            conn.execute(
                text(
                    f"SELECT {key} FROM (SELECT {key}, row_number() OVER (ORDER BY {key}) AS n "
                    f"FROM {current}) d WHERE n % {SHARE} = 1 AND n > 1 ORDER BY {key}"
                )
            )
            .scalars()
            .all()
        )
    edges: list[str | None] = [None, *bounds, None]
    readings = devices = 0
    for first, following in itertools.pairwise(edges):
        with engine.begin() as conn:
            share = pack_share(conn, kind, day, first, following)
        readings += share[0]
        devices += share[1]
    return readings, devices


def pack_share(
    conn: Connection, kind: Kind, day: date, first: str | None, following: str | None
) -> tuple[int, int]:
    """Pack one day's readings of the devices from `first` to before `following` (None: no
    bound) in the caller's transaction; (readings, devices) packed."""
    lo = datetime.combine(day, time(), UTC)
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(kind)})
    rows = conn.execute(
        text(pack_sql(kind)),
        {"lo": lo, "hi": lo + timedelta(days=1), "day": day, "first": first, "next": following},
    ).all()
    return sum(row[0] for row in rows), len(rows)


def pack_before(conn: Connection, before: date) -> int:
    """Pack every day before `before`, whole, in the caller's transaction (tests, one-off
    use: the job shares days out); how many readings."""
    packed = 0
    for kind in KINDS:
        days = conn.execute(
            text(
                "SELECT DISTINCT (recorded_at AT TIME ZONE 'UTC')::date FROM "
                f"{kind.history_table} WHERE recorded_at < :before ORDER BY 1"
            ),
            {"before": datetime.combine(before, time(), UTC)},
        ).scalars()
        for day in list(days):
            packed += pack_share(conn, kind, day, None, None)[0]
    return packed


def forget_before(conn: Connection, day: date) -> int:
    """Drop the packed days before `day` (RETENTION_DAYS, as their partitions go); how many."""
    gone = 0
    for kind in KINDS:
        result = conn.execute(text(f"DELETE FROM {packed_table(kind)} WHERE day < :d"), {"d": day})
        gone += result.rowcount
    return gone


def _vacuum(engine: Engine, kind: Kind, day: date) -> None:
    """The day's partition is empty but for its dead rows: VACUUM gives their pages back (and
    gives way to any lock it would wait for), and its indexes, which VACUUM never shrinks, are
    built again empty, CONCURRENTLY: neither holds a lock a reader or writer waits on."""
    partition = partitions.partition_name(kind.history_table, day)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        exists = conn.execute(text("SELECT to_regclass(:p)"), {"p": partition}).scalar_one()
        if exists is None:
            return
        conn.execute(text(f"VACUUM {partition}"))
        empty = conn.execute(text(f"SELECT NOT EXISTS (SELECT FROM {partition})")).scalar_one()
        if empty:
            conn.execute(text(f"REINDEX TABLE CONCURRENTLY {partition}"))

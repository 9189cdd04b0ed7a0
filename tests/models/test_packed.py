"""Packed history (readings/packed.py): packing changes no answer, late readings for packed days
are stored once and read at once, and the job packs only closed days, in shares, leaving the
partitions empty."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from efficiency import refresh
from efficiency.reference import intervals, kept_readings
from models.kinds import KINDS, METER, VEHICLE
from readings import history, packed
from readings.writer import write_batch
from storage import partitions
from tests.support.efficiency import assert_serves_reference, write_in_parts
from tests.support.examples import examples
from tests.support.factories import T0, meter_rec, meter_reg, vehicle_rec
from tests.support.register_fleets import AS_OF, fleets

# Far enough to take every test reading (they are around T0) as packable.
EVERYTHING = date(2100, 1, 1)
WIDE = (T0 - timedelta(days=2), T0 + timedelta(days=3))


def pages(conn) -> dict[tuple[str, str], list[dict]]:
    """Every device's history as the API reads it (and CSV writes it), a page of 7 at a time."""
    out = {}
    for kind in KINDS:
        devices = conn.execute(text(f"SELECT {kind.id_column} FROM {kind.current_table}"))
        for (device,) in devices:
            rows: list[dict] = []
            after = None
            while True:
                page = history.page(conn, kind, device, *WIDE, limit=7, after=after)
                rows += [dict(row) for row in page]
                if len(page) < 7:
                    break
                after = page[-1]["recorded_at"]
            out[kind.name, device] = rows
    return out


def stored_intervals(conn) -> dict:
    out = {}
    for kind, interval in ((METER, "kwh_consumed_ac"), (VEHICLE, "kwh_delivered_dc")):
        rows = conn.execute(
            text(f"SELECT {kind.id_column}, recorded_at, {interval} FROM {packed.rows_sql(kind)} h")
        )
        out.update({(kind.code, r[0], r[1]): r[2] for r in rows})
    return out


def packed_count(conn) -> int:
    return sum(
        conn.execute(
            text(f"SELECT coalesce(sum(readings), 0) FROM packed_{k.history_table}")
        ).scalar_one()
        for k in KINDS
    )


def unpacked_count(conn) -> int:
    return sum(
        conn.execute(text(f"SELECT count(*) FROM {k.history_table}")).scalar_one() for k in KINDS
    )


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(fleet=fleets(), share=st.floats(0.3, 1.0))
def test_packing_changes_no_answer_and_late_readings_count_once(db, fleet, share):
    """On the register property test's random fleets: history pages, intervals and the served
    figures are the same before and after packing; the rest of the fleet then arrives late, for
    the packed days (resends and lesser readings of one identity among them), and history and
    the figures are the reference's for the whole fleet, each identity once."""
    arrival, _ = fleet
    first = arrival[: max(1, int(len(arrival) * share))]
    late = arrival[len(first) :]
    savepoint = db.begin_nested()
    try:
        write_in_parts(db, first, [], AS_OF, refreshes=1)
        before = (pages(db), stored_intervals(db))
        kept = unpacked_count(db)
        assert packed.pack_before(db, EVERYTHING) == kept
        assert unpacked_count(db) == 0
        assert (pages(db), stored_intervals(db)) == before
        refresh.refresh(db, AS_OF, full=True)
        assert_serves_reference(db, first, AS_OF)

        write_in_parts(db, late, [], AS_OF, refreshes=1)
        assert stored_intervals(db) == intervals(kept_readings(arrival))
        assert_serves_reference(db, arrival, AS_OF)
        # Each identity stored once, resends and all, across packed and unpacked rows.
        identities = {(r[0], r[2], r[1]) for r in arrival}
        assert unpacked_count(db) + packed_count(db) == len(identities)
        # Packed again, the whole fleet reads the same.
        whole = (pages(db), stored_intervals(db))
        packed.pack_before(db, EVERYTHING)
        assert (pages(db), stored_intervals(db)) == whole
    finally:
        savepoint.rollback()


def test_a_resend_of_a_packed_reading_is_stored_once_and_a_lesser_one_replaces_it(db):
    reading = meter_rec("M1", T0, kwh=0.5)
    write_batch(db, [reading, meter_rec("M1", T0 + timedelta(minutes=1), kwh=0.4)])
    packed.pack_before(db, EVERYTHING)

    write_batch(db, [reading])  # the resend
    rows = history.page(db, METER, "M1", *WIDE, limit=10)
    assert [float(r["kwh_consumed_ac"]) for r in rows] == [0.5, 0.4]

    write_batch(db, [meter_rec("M1", T0, kwh=0.3)])  # a lesser reading of one identity
    rows = history.page(db, METER, "M1", *WIDE, limit=10)
    assert [float(r["kwh_consumed_ac"]) for r in rows] == [0.3, 0.4]
    # Its device's day went back to history for the write; the next packing packs it again.
    assert (unpacked_count(db), packed_count(db)) == (2, 0)
    packed.pack_before(db, EVERYTHING)
    assert (unpacked_count(db), packed_count(db)) == (0, 2)
    rows = history.page(db, METER, "M1", *WIDE, limit=10)
    assert [float(r["kwh_consumed_ac"]) for r in rows] == [0.3, 0.4]


def test_a_late_register_reading_rederives_its_packed_neighbour(db):
    """The neighbours a register reading's interval comes from may lie in a packed day: the
    writer moves the device's days around it back first, so its successor is derived again."""
    midnight = datetime.combine(T0.date() + timedelta(days=1), datetime.min.time(), UTC)
    write_batch(
        db,
        [
            meter_reg("M1", midnight - timedelta(seconds=120), "100"),
            meter_reg("M1", midnight + timedelta(seconds=30), "103"),
        ],
    )
    packed.pack_before(db, EVERYTHING)
    write_batch(db, [meter_reg("M1", midnight - timedelta(seconds=40), "101")])
    rows = history.page(db, METER, "M1", *WIDE, limit=10)
    assert [(r["kwh_register_ac"], r["kwh_consumed_ac"]) for r in rows] == [
        (100, None),  # the first: nothing before it
        (101, 1),
        (103, 2),  # derived again from the late reading
    ]


def test_the_job_packs_closed_days_only_in_shares_and_empties_their_partitions(
    clean_db, monkeypatch
):
    engine = clean_db
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    partitions.maintain(engine, days_ahead=1, retention_days=30, days_back=5)
    # Three meters and a vehicle a day, for the last five days; two shares of two meters.
    monkeypatch.setattr(packed, "SHARE", 2)
    records = []
    for back in range(5):
        at = today - timedelta(days=back)
        records += [meter_rec(f"M{i}", at, kwh=0.1 * (back + 1)) for i in range(3)]
        records.append(vehicle_rec("V1", "M0", at + timedelta(seconds=5), kwh=0.1))
    with engine.begin() as conn:
        write_batch(conn, records)
        before = pages_between(conn, today)

    result = packed.pack(engine, pack_after_days=2)

    packed_days = sorted({(today - timedelta(days=b)).date() for b in (3, 4)})
    assert sorted(result.days) == sorted(
        f"{k.history_table} {d}" for k in KINDS for d in packed_days
    )
    assert (result.readings, result.device_days) == (8, 8)
    with engine.connect() as conn:
        assert pages_between(conn, today) == before
        for day in packed_days:
            partition = partitions.partition_name("meter_readings", day)
            size = conn.execute(text(f"SELECT pg_total_relation_size('{partition}')")).scalar()
            rows = conn.execute(text(f"SELECT count(*) FROM {partition}")).scalar()
            assert rows == 0
            assert size < 128 * 1024, (partition, size)  # its empty pages and indexes
        left = conn.execute(text("SELECT count(*) FROM meter_readings")).scalar()
    assert left == 9  # today, yesterday and the day before, three meters each
    assert packed.pack(engine, pack_after_days=2).readings == 0  # nothing more to pack


def pages_between(conn, today: datetime) -> dict:
    window = (today - timedelta(days=6), today + timedelta(days=1))
    return {
        (kind.name, device): [dict(r) for r in history.page(conn, kind, device, *window, 100)]
        for kind, device in ((METER, "M0"), (METER, "M1"), (METER, "M2"), (VEHICLE, "V1"))
    }


def test_the_migration_packs_the_closed_days_that_exist_and_its_downgrade_unpacks_them(
    database_url,
):
    from alembic import command

    from readings.registers import RegisterRule
    from tests.support.efficiency import fleet_records
    from tests.support.migrated import database_at

    records = fleet_records(T0, 2)
    recent = [meter_rec("M1", datetime.now(UTC) - timedelta(minutes=5))]
    with database_at(database_url, "0016") as (engine, config):
        with engine.begin() as conn:
            # 0016 knows no packed days: nothing taken for late.
            write_batch(conn, records + recent, RegisterRule(pack_after_days=100_000))
            before = unpacked_count(conn)
            raw = everything(conn, lambda kind: kind.history_table)
        command.upgrade(config, "0017")
        with engine.connect() as conn:
            # Every old day packed; today's reading left as it came.
            assert (unpacked_count(conn), packed_count(conn)) == (1, before - 1)
            assert everything(conn, packed.rows_sql) == raw
        command.downgrade(config, "0016")
        with engine.connect() as conn:
            assert unpacked_count(conn) == before
            assert everything(conn, lambda kind: kind.history_table) == raw
        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert everything(conn, packed.rows_sql) == raw


def everything(conn, source) -> list:
    """Every reading of every kind, all columns, in one order."""
    return [
        tuple(row)
        for kind in KINDS
        for row in conn.execute(
            text(f"SELECT {', '.join(packed.columns(kind))} FROM {source(kind)} h ORDER BY 2, 1")
        )
    ]

"""A consumer under the faults that used to break it: a buffer full of flushed backlogs, an entry
that always fails, a connection cut in the middle of COPY, an entry put into the stream by hand."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import text

from buffer.stream import IngestStream
from tests.support.factories import at, meter_rec
from tests.support.helpers import dead_letters, stored_readings
from workers import consumer as consumer_module
from workers.consumer import Consumer


@pytest.fixture
def make(stream, clean_db, settings):
    def build(name: str = "host#0", **changes) -> Consumer:
        return Consumer(name, stream, clean_db, settings.replace(**changes))

    return build


def flushed(device: str, n: int) -> list:
    return [meter_rec(device, at(i // 60, i % 60)) for i in range(n)]


def test_a_batch_holds_at_most_its_readings_whatever_the_requests_sizes(stream, make, clean_db):
    for device in range(8):  # eight devices each flushed 10,000 readings while writers were down
        stream.add(flushed(f"M{device}", 10_000), bound=1_000_000)
    writer = make(batch_max_readings=5_000)
    sizes = []
    while entries := writer.collect():
        sizes.append(sum(len(e.records) for e in entries))
        assert writer.process(entries, threading.Event())
    assert max(sizes) <= 5_000
    assert sum(sizes) == 80_000 == stored_readings(clean_db)


def test_an_entry_that_always_fails_is_dead_lettered_after_max_deliveries(
    stream: IngestStream, make, clean_db, monkeypatch
):
    """Not a reading PostgreSQL refuses, not a transient fault: a failure nothing fixes. It is
    split off so the rest of its batch is written, retried until MAX_DELIVERIES attempts, then
    its readings are dead-lettered with the error, instead of retrying forever."""
    real = consumer_module.store_entries

    def store(conn, entries, rule):
        if any(r[2] == "M-boom" for e in entries for r in e.records):
            raise RuntimeError("boom: a bug that this entry always hits")
        return real(conn, entries, rule)

    monkeypatch.setattr(consumer_module, "store_entries", store)
    monkeypatch.setattr(consumer_module, "FAILURE_DELAY", 0.01)
    stream.add(flushed("M-ok-1", 3), bound=100)
    stream.add([meter_rec("M-boom")], bound=100)
    stream.add(flushed("M-ok-2", 3), bound=100)
    writer = make(max_deliveries=3)
    assert writer.process(writer.collect(), threading.Event())
    assert stored_readings(clean_db) == 6
    (letter,) = dead_letters(clean_db)
    assert letter.record[2] == "M-boom"
    assert letter.error.startswith("not written after 3 attempts: RuntimeError: boom")
    assert stream.backlog() == stream.stats().pending == 0


def test_earlier_deliveries_count_towards_max_deliveries(stream, make, clean_db, monkeypatch):
    attempts = []

    def store(conn, entries, rule):
        attempts.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(consumer_module, "store_entries", store)
    stream.add([meter_rec("M-boom")], bound=100)
    stream.read_new("crashed#0", 100)
    for crashed in (1, 2, 3):  # each consumer died holding it; the next one claimed it
        stream.take_pending(f"crashed#{crashed}", 100)
    writer = make(max_deliveries=5)
    (entry,) = stream.take_pending(writer.name, 100)
    assert entry.deliveries == 5
    assert writer.process([entry], threading.Event())
    assert attempts == [1], "its last allowed attempt, then the dead letters"
    assert len(dead_letters(clean_db)) == 1


def test_a_connection_cut_during_copy_is_retried_not_dead_lettered(
    stream, make, clean_db, monkeypatch, caplog
):
    """COPY runs on the raw psycopg2 cursor, whose errors are psycopg2's own classes."""
    real = consumer_module.store_entries
    cut: list[int] = []

    def store(conn, entries, rule):
        if not cut:
            cut.append(1)
            with clean_db.connect() as other:
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        return real(conn, entries, rule)

    monkeypatch.setattr(consumer_module, "store_entries", store)
    stream.add(flushed("M1", 5), bound=100)
    writer = make(max_deliveries=1)
    with caplog.at_level(logging.WARNING, logger="workers.consumer"):
        assert writer.process(writer.collect(), threading.Event())
    assert stored_readings(clean_db) == 5
    assert dead_letters(clean_db) == []
    assert "event=commit_retry" in caplog.text
    assert "event=commit_failed" not in caplog.text


def test_an_entry_put_in_by_hand_is_dead_lettered_by_whoever_claims_it(stream, make, clean_db):
    stream.redis.xadd(stream.key, {"n": "many", "r": b"[1, 2"})
    stream.add(flushed("M1", 2), bound=100)
    stream.read_new("crashed#0", 100)
    live = make("live#0", claim_idle_seconds=1)
    time.sleep(1.1)
    claimed = live.claim()
    assert [e.size for e in claimed] == [0, 2]
    assert live.process(claimed, threading.Event())
    assert stored_readings(clean_db) == 2
    (letter,) = dead_letters(clean_db)
    assert letter.position == -1
    assert "n=many" in letter.record
    assert stream.backlog() == stream.stats().length == 0


def test_a_lock_timeout_in_the_copy_path_is_waited_out_not_dead_lettered(
    stream, make, clean_db, monkeypatch, caplog
):
    """An operator's lock_timeout (or statement_timeout, or a deadlock) raised by the raw
    psycopg2 cursor leaves the connection usable: psycopg2's own OperationalError reaches the
    consumer unwrapped, and is as transient as SQLAlchemy's."""
    real = consumer_module.store_entries

    def store(conn, entries, rule):
        conn.exec_driver_sql("SET LOCAL lock_timeout = '100ms'")
        return real(conn, entries, rule)

    monkeypatch.setattr(consumer_module, "store_entries", store)
    stream.add(flushed("M1", 5), bound=100)
    writer = make(max_deliveries=1)
    entries = writer.collect()
    blocker = clean_db.connect()
    held = blocker.begin()
    blocker.execute(text("LOCK TABLE meter_readings IN ACCESS EXCLUSIVE MODE"))
    threading.Timer(1.0, held.rollback).start()  # a long migration, say, then it is gone
    with caplog.at_level(logging.WARNING, logger="workers.consumer"):
        assert writer.process(entries, threading.Event())
    blocker.close()
    assert stored_readings(clean_db) == 5
    assert dead_letters(clean_db) == []
    assert "LockNotAvailable" in caplog.text
    assert "event=commit_failed" not in caplog.text

"""A stream consumer against real Redis and PostgreSQL: commit, then acknowledge, and never lose."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import text

from buffer.stream import IngestStream
from readings.records import Record, encode
from tests.support.factories import at, meter_rec, vehicle_rec
from tests.support.helpers import dead_letters, stored_readings, wait_until
from workers.consumer import GATHER_SECONDS, Consumer
from workers.store import store_entries


def pending(stream: IngestStream) -> int:
    return stream.stats().pending


def readings(n: int, minute: int = 0) -> list[Record]:
    return [meter_rec(f"M{i}", at(minute, i % 60)) for i in range(n)]


@pytest.fixture
def consumer(stream, clean_db, settings) -> Callable[..., Consumer]:
    def make(name: str = "host#0", **changes) -> Consumer:
        return Consumer(name, stream, clean_db, settings.replace(**changes))

    return make


@pytest.fixture
def running(consumer) -> Iterator[Callable[..., threading.Event]]:
    """Start consumers' run loops in threads; they are all stopped after the test."""
    threads: list[tuple[threading.Thread, threading.Event]] = []

    def start(c: Consumer) -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(target=c.run, args=(stop,), daemon=True)
        thread.start()
        threads.append((thread, stop))
        return stop

    yield start
    for thread, stop in threads:
        stop.set()
        thread.join(10)


def test_batch_is_committed_then_acknowledged(stream, consumer, clean_db):
    stream.add(readings(3), bound=100)
    stream.add([vehicle_rec("V1", "M0", at(0))], bound=100)
    c = consumer()
    entries = c.collect()
    assert len(entries) == 2
    assert pending(stream) == 2, "read but not yet committed: still pending"
    assert c.process(entries, threading.Event())
    assert stored_readings(clean_db) == 4
    assert pending(stream) == 0
    assert stream.backlog() == 0
    assert stream.stats().length == 0, "acknowledged entries are deleted from the stream"


def test_batch_closes_at_the_reading_limit(stream, consumer):
    for i in range(5):
        stream.add([meter_rec(f"M{i}")], bound=100)
    c = consumer(batch_max_readings=3)
    assert len(c.collect()) == 3
    assert len(c.collect()) == 2


def test_batch_closes_after_the_wait_when_traffic_is_thin(stream, consumer):
    stream.add([meter_rec("M1")], bound=100)
    c = consumer(batch_max_readings=5000, batch_wait_ms=150)
    started = time.monotonic()
    assert len(c.collect()) == 1
    assert 0.1 < time.monotonic() - started < 1.0


def test_a_trickle_of_single_readings_is_gathered_in_few_reads(stream, consumer):
    # Devices that send one reading per request: a batch gathers them between a few reads
    # instead of waking Redis for each reading (twice: a read, then a blocking wait).
    c = consumer(batch_max_readings=5000, batch_wait_ms=1000)
    calls = 0

    def counted(read: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return read(*args)

        return call

    c.stream.read_new = counted(c.stream.read_new)
    c.stream.wait_new = counted(c.stream.wait_new)
    stream.add([meter_rec("M0")], bound=1000)

    def trickle() -> None:
        for i in range(1, 60):
            stream.add([meter_rec(f"M{i}")], bound=1000)
            time.sleep(0.002)

    sender = threading.Thread(target=trickle)
    sender.start()
    entries = c.collect()
    sender.join()
    assert len(entries) == 60, "the whole trickle is one batch"
    assert calls <= 1.0 / GATHER_SECONDS + 3, f"{calls} Redis reads for 60 readings"


def test_batch_whose_commit_fails_stays_pending_and_is_written_later(
    stream, consumer, running, clean_db
):
    # A deferred constraint trigger makes COMMIT itself fail, after every statement succeeded.
    with clean_db.begin() as conn:
        conn.execute(text("CREATE TABLE fail_commits (on_purpose boolean)"))
        conn.execute(text("INSERT INTO fail_commits VALUES (true)"))
        conn.execute(
            text(
                "CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF EXISTS (SELECT 1 FROM fail_commits) THEN "
                "RAISE EXCEPTION 'commit refused for the test'; END IF; RETURN NULL; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON dirty_minutes "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit()"
            )
        )
    try:
        stream.add(readings(4), bound=100)
        running(consumer())
        wait_until(lambda: pending(stream) == 1)
        time.sleep(1.0)  # several failed commits and retries
        assert stored_readings(clean_db) == 0
        assert pending(stream) == 1, "never acknowledged while its commit fails"
        assert stream.backlog() == 4
        with clean_db.begin() as conn:
            conn.execute(text("DELETE FROM fail_commits"))
        wait_until(lambda: stored_readings(clean_db) == 4)
        wait_until(lambda: pending(stream) == 0)
        assert stream.backlog() == 0
    finally:
        with clean_db.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS fail_commit ON dirty_minutes"))
            conn.execute(text("DROP FUNCTION IF EXISTS fail_commit()"))
            conn.execute(text("DROP TABLE IF EXISTS fail_commits"))


def test_consumer_restarted_under_its_name_rereads_its_pending_first(stream, consumer, clean_db):
    stream.add(readings(2), bound=100)
    assert len(stream.read_new("host#0", 10)) == 1  # then the process died
    stream.add(readings(3, minute=1), bound=100)
    successor = consumer("host#0")
    successor.drain_own_pending(threading.Event())
    assert stored_readings(clean_db) == 2, "its own pending entry, and nothing new yet"
    assert pending(stream) == 0


def test_dead_consumers_entries_are_claimed_by_a_live_one(stream, consumer, clean_db):
    stream.add(readings(3), bound=100)
    assert len(stream.read_new("gone-host#0", 10)) == 1  # and that host never came back
    live = consumer("live-host#0", claim_idle_seconds=1)
    assert live.claim() == [], "not idle long enough yet"
    time.sleep(1.1)
    claimed = live.claim()
    assert len(claimed) == 1
    assert live.process(claimed, threading.Event())
    assert stored_readings(clean_db) == 3
    assert pending(stream) == 0
    assert stream.prune_consumers(gone_ms=1000) == ["gone-host#0"]
    names = [c["name"] for c in stream.stats().consumers]
    assert names == ["live-host#0"]


def test_refused_reading_is_dead_lettered_and_the_rest_stored(stream, consumer, clean_db):
    good = readings(5)
    beyond_column = meter_rec("M-bad", at(1), kwh=123456.0)  # numeric(10,6) holds < 10^4
    stream.add([*good[:2], beyond_column, *good[2:]], bound=100)
    stream.redis.xadd(stream.key, {"n": 1, "r": b"not json"})
    stream.redis.incrby(stream.backlog_key, 1)
    c = consumer()
    entries = c.collect()
    assert c.process(entries, threading.Event())
    assert stored_readings(clean_db) == 5
    assert pending(stream) == 0
    assert stream.backlog() == 0
    letters = sorted(dead_letters(clean_db), key=lambda letter: letter.entry)
    assert (letters[0].record, letters[0].position) == (beyond_column, 2)
    assert "numeric field overflow" in letters[0].error
    assert (letters[1].record, letters[1].position) == ("not json", -1)
    assert letters[1].error == "stream entry is not a JSON array of readings"


def test_an_entry_older_workers_wrote_is_stored_and_a_newer_format_is_lettered_as_such(
    stream, consumer, clean_db
):
    """Rolling upgrades: an entry from before entries carried a format is read as format 1; one
    in a format this worker does not know is kept as a letter saying why, and the rest stored."""
    old = readings(2)
    stream.redis.xadd(stream.key, {"n": 2, "r": encode(old)})
    stream.redis.xadd(stream.key, {"n": 1, "r": encode([meter_rec("M-new")]), "v": "2"})
    stream.redis.incrby(stream.backlog_key, 3)
    stream.add(readings(3)[2:], bound=100)
    assert [f.get(b"v") for _, f in stream.redis.xrange(stream.key)] == [None, b"2", b"1"]
    c = consumer()
    assert c.process(c.collect(), threading.Event())
    assert stored_readings(clean_db) == 3
    assert (pending(stream), stream.backlog()) == (0, 0)
    (letter,) = dead_letters(clean_db)
    assert letter.position == -1
    assert letter.error.startswith("stream entry format 2 is not the one this worker reads (1)")


def test_an_entry_processed_twice_is_dead_lettered_once(stream, consumer, clean_db):
    """A claimed entry may be written by its first reader too: one letter, counted once."""
    stream.add([meter_rec("M-bad", at(1), kwh=123456.0), meter_rec("M-ok")], bound=100)
    slow, fast = consumer("slow#0"), consumer("fast#0")
    entries = slow.collect()
    with clean_db.begin() as conn:
        first = store_entries(conn, entries)
    with clean_db.begin() as conn:
        second = store_entries(conn, entries)
    assert (first.dead_lettered, second.dead_lettered) == (1, 0)
    assert fast.process(entries, threading.Event())
    assert len(dead_letters(clean_db)) == 1
    assert stored_readings(clean_db) == 1


def test_lost_group_is_recreated_and_nothing_is_skipped(stream, consumer, clean_db):
    stream.redis.xgroup_destroy(stream.key, "writers")
    stream.add(readings(2), bound=100)
    c = consumer()
    entries = c.collect()  # NOGROUP: the group is made again, from the stream's start
    assert c.process(entries, threading.Event())
    assert stored_readings(clean_db) == 2


def test_run_loop_writes_everything_added_while_it_runs(stream, consumer, running, clean_db):
    running(consumer("host#0"))
    running(consumer("host#1"))
    for minute in range(20):
        stream.add(readings(25, minute=minute), bound=10_000)
    wait_until(lambda: stored_readings(clean_db) == 500)
    wait_until(lambda: stream.backlog() == 0)
    assert pending(stream) == 0


def test_a_consumer_is_listed_in_the_group_as_soon_as_it_runs(stream, consumer, running):
    running(consumer("host#7"))
    wait_until(lambda: [c["name"] for c in stream.stats().consumers] == ["host#7"])


@pytest.mark.parametrize(("first", "second"), [(0.1, 0.9), (0.9, 0.1)])
def test_one_identity_sent_twice_keeps_one_reading_whichever_consumer_writes_it_first(
    stream, consumer, clean_db, first, second
):
    """Two different readings of one meter at one moment: the one kept does not depend on
    which consumer wrote which, nor in what order; it is the one kept when both arrive in one
    batch, in history and in current state alike."""
    stream.add([meter_rec("MX", at(0), kwh=first)], bound=100)
    assert len(stream.read_new("gone-host#0", 10)) == 1  # then that consumer died
    stream.add([meter_rec("MX", at(0), kwh=second), vehicle_rec("VX", "MX", at(0))], bound=100)
    stream.add([vehicle_rec("VX", "MX", at(0), kwh=0.3, soc=40)], bound=100)
    live = consumer("live-host#0", claim_idle_seconds=1)
    assert live.process(live.collect(), threading.Event())
    time.sleep(1.1)
    assert live.process(live.claim(), threading.Event())

    with clean_db.connect() as conn:
        history = conn.execute(text("SELECT kwh_consumed_ac FROM meter_readings")).scalars().all()
        state = conn.execute(text("SELECT kwh_consumed_ac FROM meter_current_state")).scalar()
        vehicles = conn.execute(
            text("SELECT kwh_delivered_dc, soc_hundredths FROM vehicle_readings")
        ).all()
        vehicle_state = conn.execute(
            text("SELECT kwh_delivered_dc, soc_hundredths FROM vehicle_current_state")
        ).all()
    kept = min(first, second)
    assert [float(v) for v in history] == [kept]
    assert float(state) == kept
    assert [(float(k), s) for k, s in vehicles] == [(0.3, 4000)]
    assert [(float(k), s) for k, s in vehicle_state] == [(0.3, 4000)]


def test_after_a_redis_failover_a_consumer_rereads_its_pending_at_once(
    stream, consumer, running, clean_db, monkeypatch
):
    """A read whose answer is lost as the primary fails over leaves its entries pending under
    the consumer's name on the new primary: the consumer writes them as soon as Redis answers
    again, not CLAIM_IDLE_SECONDS later when another would claim them."""
    lost = threading.Event()

    def losing_the_answer(read: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            entries = read(*args)
            if entries and not lost.is_set():
                lost.set()
                raise redis.ConnectionError("Connection closed by server.")
            return entries

        return call

    monkeypatch.setattr(stream, "read_new", losing_the_answer(stream.read_new))
    monkeypatch.setattr(stream, "wait_new", losing_the_answer(stream.wait_new))
    running(consumer("host#0", claim_idle_seconds=600))
    time.sleep(0.5)  # running, its own pending list drained
    stream.add(readings(3), bound=100)
    wait_until(lost.is_set, 10, "the read whose answer is lost")
    wait_until(lambda: stored_readings(clean_db) == 3, 10, "the pending entry to be written")
    wait_until(lambda: pending(stream) == 0, 10, "its acknowledgement")

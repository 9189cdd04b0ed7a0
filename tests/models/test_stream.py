"""The ingest stream's scripts: reads bounded by readings, acknowledgements that delete only what
they acknowledged, pruning that cannot lose entries, entries put there by hand that stall nobody,
and the eviction check. Each test runs on fakeredis (no server: the edit-test loop) and again on
real Redis, whose Lua and stream commands are the ones production runs."""

from __future__ import annotations

import threading
import time

import fakeredis
import pytest
import redis

from buffer.stream import ENTRY_READINGS, GROUP, EvictionGuard, IngestStream
from readings.records import encode
from tests.support.factories import at, meter_rec


@pytest.fixture(params=["fakeredis", "redis"])
def stream(request: pytest.FixtureRequest) -> IngestStream:
    if request.param == "fakeredis":
        # RESP2, as storage.redis_client connects: fakeredis shapes a script's replies by protocol.
        client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), protocol=2)
        stream = IngestStream(client, "ev-test")
    else:
        prefix = request.getfixturevalue("settings").redis_key_prefix
        stream = IngestStream(request.getfixturevalue("redis_client"), prefix)
    stream.ensure_group()
    return stream


def flushed_buffer(device: str, n: int) -> list:
    """A device's buffer after an outage: n readings, one a second."""
    return [meter_rec(device, at(i // 60, i % 60)) for i in range(n)]


def test_a_large_request_becomes_entries_of_bounded_size_added_together(stream):
    stream.add(flushed_buffer("M1", 10_000), bound=1_000_000)
    sizes = [int(f[b"n"]) for _, f in stream.redis.xrange(stream.key)]
    assert sizes == [ENTRY_READINGS] * 20
    assert stream.backlog() == stream.queued_readings() == 10_000


def test_a_read_never_holds_more_readings_than_its_budget(stream):
    """After an outage the buffer holds many devices' flushed backlogs: each read stops at its
    budget of readings, however many entries that is."""
    for device in range(8):
        stream.add(flushed_buffer(f"M{device}", 10_000), bound=1_000_000)
    total = 0
    while True:
        entries = stream.read_new("writer#0", 5_000)
        if not entries:
            break
        readings = sum(len(e.records) for e in entries)
        assert readings <= 5_000
        total += readings
    assert total == 80_000


def test_an_entry_larger_than_the_budget_is_read_alone(stream):
    # Written by an older version that did not split requests: one entry, 10,000 readings.
    stream.redis.xadd(stream.key, {"n": 10_000, "r": encode(flushed_buffer("M1", 10_000))})
    stream.add(flushed_buffer("M2", 10), bound=1_000_000)
    first = stream.read_new("writer#0", 5_000)
    assert [len(e.records) for e in first] == [10_000]
    assert [len(e.records) for e in stream.read_new("writer#0", 5_000)] == [10]


def test_claims_are_bounded_by_readings_and_count_deliveries(stream):
    for device in range(4):
        stream.add(flushed_buffer(f"M{device}", 2_000), bound=1_000_000)
    held = stream.read_new("crashed#0", 8_000)
    assert sum(e.size for e in held) == 8_000
    claimed = stream.take_pending("live#0", 3_000, min_idle_ms=0)
    assert sum(e.size for e in claimed) == 3_000
    assert {e.deliveries for e in claimed} == {2}
    again = stream.take_pending("other#0", 1_000, min_idle_ms=0)
    assert [e.id for e in again] == [e.id for e in claimed[:2]], "oldest first"
    assert [e.deliveries for e in again] == [3, 3]


def test_pending_entries_of_a_consumer_are_taken_back_by_its_successor_only(stream):
    stream.add(flushed_buffer("M1", 10), bound=100)
    stream.add(flushed_buffer("M2", 10), bound=100)
    mine = stream.read_new("host#0", 10)
    stream.read_new("host#1", 10)
    taken = stream.take_pending("host#0", 1_000, owner="host#0")
    assert [e.id for e in taken] == [e.id for e in mine]
    assert taken[0].deliveries == 2


def test_acknowledging_an_entry_no_longer_pending_deletes_nothing(stream):
    """Its consumer was deleted from the group under it: the ack must not delete an entry it did
    not acknowledge (that would lose it if the consumer then crashed); rescue re-delivers it."""
    stream.add(flushed_buffer("M1", 3), bound=100)
    entries = stream.read_new("host#0", 10)
    stream.redis.xgroup_delconsumer(stream.key, GROUP, "host#0")  # an operator, by hand
    assert stream.ack(entries).acked == 0
    assert stream.stats().length == 1, "still in the stream"
    assert stream.backlog() == stream.queued_readings() == 3
    assert stream.rescue_orphans() == 1
    again = stream.read_new("host#1", 10)
    assert [e.records for e in again] == [e.records for e in entries]
    assert stream.ack(again).freed == 3
    assert stream.backlog() == stream.queued_readings() == 0
    assert stream.stats().length == 0


def test_acknowledging_twice_frees_the_readings_once(stream):
    stream.add(flushed_buffer("M1", 3), bound=100)
    entries = stream.read_new("slow#0", 10)
    claimed = stream.take_pending("fast#0", 10)
    assert stream.ack(claimed).freed == 3
    assert stream.ack(entries).freed == 0
    assert stream.backlog() == 0


def test_pruning_never_removes_a_consumer_that_has_just_read(stream):
    """Checking a consumer holds nothing and removing it are one step: a consumer that reads in
    between (a worker restarted under its old name) never has its entries taken from under it."""
    stop = threading.Event()
    lost: list[str] = []

    def prune() -> None:
        while not stop.is_set():
            stream.prune_consumers(gone_ms=0)

    pruner = threading.Thread(target=prune, daemon=True)
    pruner.start()
    try:
        deadline = time.monotonic() + 3
        reads = 0
        while time.monotonic() < deadline:
            stream.add([meter_rec("M1", at(0, reads % 60))], bound=1_000_000)
            for entry in stream.read_new("restarted#0", 10):
                reads += 1
                holders = stream.redis.xpending_range(stream.key, GROUP, entry.id, entry.id, 1)
                if not holders:
                    lost.append(entry.id)
                stream.ack([entry])
    finally:
        stop.set()
        pruner.join(5)
    assert reads > 100
    assert lost == [], f"{len(lost)} of {reads} entries read were no longer pending anywhere"
    assert stream.backlog() == stream.queued_readings() == 0


def test_entries_put_in_by_hand_stall_no_reader_and_no_claim(stream):
    stream.redis.xadd(stream.key, {"n": "many", "r": b"[]"})
    stream.redis.xadd(stream.key, {"other": "field"})
    stream.add(flushed_buffer("M1", 2), bound=100)
    read = stream.read_new("host#0", 100)
    assert [e.undecodable is not None for e in read] == [True, True, False]
    assert [e.size for e in read] == [0, 0, 2]
    claimed = stream.take_pending("host#1", 100)
    assert len(claimed) == 3
    assert stream.ack(claimed).acked == 3
    assert stream.backlog() == stream.queued_readings() == 0


def test_an_evicting_redis_is_reported(private_redis):
    stream = IngestStream(redis.Redis.from_url(private_redis.url), "ev")
    guard = EvictionGuard(stream, every=0)
    assert stream.evicting_policy() is None
    stream.redis.config_set("maxmemory-policy", "allkeys-lru")
    assert stream.evicting_policy() is None, "no memory limit: nothing is ever evicted"
    stream.redis.config_set("maxmemory", "512mb")
    assert stream.evicting_policy() == "allkeys-lru"
    assert guard.policy() == "allkeys-lru"
    stream.redis.config_set("maxmemory-policy", "volatile-lru")
    assert guard.policy() is None, "only keys with a TTL, and ours have none"


def test_the_guard_asks_redis_at_most_once_per_period(stream, monkeypatch):
    calls: list[int] = []

    def evicting_policy() -> str:
        calls.append(1)
        return "allkeys-lru"

    monkeypatch.setattr(stream, "evicting_policy", evicting_policy)
    guard = EvictionGuard(stream, every=60)
    assert guard.policy() == guard.policy() == "allkeys-lru"
    assert calls == [1]

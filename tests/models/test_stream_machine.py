"""A stateful property test of the stream against real Redis and PostgreSQL.

Hypothesis interleaves what producers, consumers and operators do: add requests of any size
(some with a reading PostgreSQL refuses), read, claim, prune, commit-and-acknowledge, crash
before or after the commit, restart under the same name, delete a consumer by hand, rescue
orphans and replay dead letters. After every step the backlog counter equals the readings in the
stream; at the end, once everything is drained, every accepted reading is in history or in the
dead letters, exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, text

from buffer import dead_letters
from buffer.stream import GROUP, Entry, IngestStream
from models.schema import ALL_TABLES as TABLES
from tests.support.examples import examples
from tests.support.factories import at, meter_rec
from workers.store import store_entries

CONSUMERS = st.sampled_from(["host-a#0", "host-a#1", "host-b#0"])
BOUND = 10**9
POISON_KWH = 123_456.0  # past numeric(10,6): PostgreSQL refuses it


def machine(stream: IngestStream, engine: Engine) -> type[RuleBasedStateMachine]:
    class StreamMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            _reset(stream, engine)
            self.hands: dict[str, list[Entry]] = {}
            self.accepted: set[str] = set()
            self.devices = 0

        @initialize(sizes=st.lists(st.integers(1, 1_300), min_size=1, max_size=6))
        def requests_queued_while_no_writer_ran(self, sizes: list[int]) -> None:
            for n, size in enumerate(sizes):
                self.add(size, poison=n % 2 == 1)

        @rule(size=st.integers(1, 1_300), poison=st.booleans())
        def add(self, size: int, poison: bool) -> None:
            records = []
            for i in range(size):
                self.devices += 1
                kwh = POISON_KWH if poison and i == size // 2 else 0.5
                records.append(meter_rec(f"SM{self.devices}", at(0), kwh=kwh))
            stream.add(records, BOUND)
            self.accepted.update(r[2] for r in records)

        @rule(consumer=CONSUMERS, budget=st.integers(1, 2_000))
        def read(self, consumer: str, budget: int) -> None:
            entries = stream.read_new(consumer, budget)
            if len(entries) > 1:
                assert sum(e.size for e in entries) <= budget
            self.hands.setdefault(consumer, []).extend(entries)

        @rule(consumer=CONSUMERS, budget=st.integers(1, 2_000))
        def claim(self, consumer: str, budget: int) -> None:
            # The consumer it is taken from may still hold it and commit it too.
            entries = stream.take_pending(consumer, budget, min_idle_ms=0)
            if len(entries) > 1:
                assert sum(e.size for e in entries) <= budget
            self.hands.setdefault(consumer, []).extend(entries)

        @rule(consumer=CONSUMERS)
        def commit_then_ack(self, consumer: str) -> None:
            entries = self.hands.pop(consumer, [])
            _commit(engine, entries)
            stream.ack(entries)

        @rule(consumer=CONSUMERS)
        def crash_before_commit(self, consumer: str) -> None:
            self.hands.pop(consumer, None)

        @rule(consumer=CONSUMERS)
        def crash_after_commit(self, consumer: str) -> None:
            _commit(engine, self.hands.pop(consumer, []))

        @rule(consumer=CONSUMERS)
        def restart_and_reread_own(self, consumer: str) -> None:
            self.hands[consumer] = stream.take_pending(consumer, BOUND, owner=consumer)

        @rule()
        def prune(self) -> None:
            stream.prune_consumers(gone_ms=0)

        @rule(consumer=CONSUMERS)
        def operator_deletes_consumer(self, consumer: str) -> None:
            stream.redis.xgroup_delconsumer(stream.key, GROUP, consumer)

        @rule()
        def rescue(self) -> None:
            stream.rescue_orphans()

        @rule()
        def replay_dead_letters(self) -> None:
            with engine.connect() as conn:
                letters = dead_letters.list_letters(conn, 1_000)
            dead_letters.replay(engine, stream, letters, BOUND)

        @invariant()
        def backlog_counts_exactly_the_readings_in_the_stream(self) -> None:
            assert stream.backlog() == stream.queued_readings()

        def teardown(self) -> None:
            _drain(stream, engine)
            assert stream.backlog() == stream.queued_readings() == 0
            stored = _stored(engine)
            twice = [device for device, n in stored.items() if n > 1]
            assert not twice, f"stored or dead-lettered more than once: {twice[:5]}"
            missing = self.accepted - stored.keys()
            assert not missing, f"{len(missing)} accepted readings lost, e.g. {min(missing)}"
            assert stored.keys() == self.accepted

    return StreamMachine


def _commit(engine: Engine, entries: list[Entry]) -> None:
    with engine.begin() as conn:
        store_entries(conn, entries)


def _drain(stream: IngestStream, engine: Engine) -> None:
    """What the live workers eventually do: take everything left, from anyone, and write it."""
    for _ in range(10_000):
        stream.rescue_orphans()
        entries = stream.take_pending("drain#0", 5_000) or stream.read_new("drain#0", 5_000)
        if not entries:
            return
        _commit(engine, entries)
        stream.ack(entries)
    raise AssertionError("the stream never drained")


def _stored(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        history = conn.execute(text("SELECT meter_id FROM meter_readings")).scalars()
        letters = dead_letters.list_letters(conn, 1_000_000)
    return Counter([*history, *(letter.record[2] for letter in letters)])


def _reset(stream: IngestStream, engine: Engine) -> None:
    stream.redis.delete(stream.key, stream.backlog_key)
    stream.ensure_group()
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES}"))


def test_any_interleaving_keeps_the_count_and_stores_every_reading_once(
    stream: IngestStream, clean_db: Engine
) -> None:
    run: Callable[..., None] = run_state_machine_as_test
    run(
        machine(stream, clean_db),
        settings=settings(
            max_examples=examples(60),
            stateful_step_count=40,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

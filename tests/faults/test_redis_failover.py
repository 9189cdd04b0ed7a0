"""Fault: the Redis primary is killed under load; its Sentinels promote the replica and the
service goes on without a restart. With REDIS_REPLICA_ACKS=1 every 202 was on the replica too,
so every one is stored; with it off, the 202s the primary gave while its replica lagged are lost,
and the figures say how many."""

from __future__ import annotations

import time

import pytest

from buffer.stream import IngestStream
from settings import Settings
from storage.redis_client import client_for
from tests.faults.devices import check_ledger, stored_keys
from tests.support.helpers import refresh_spans, wait_until
from tests.support.redis_sentinels import MASTER, sentinelled_redis

__all__ = ["sentinelled_redis"]


def refreshes(service) -> list[float]:
    """When each refresh the worker ran started (epoch seconds)."""
    return [started for started, _ in refresh_spans(service.log("worker"))]


@pytest.mark.parametrize("replica_acks", [1, 0])
def test_primary_killed_failover_keeps_every_202(
    service, devices, sentinelled_redis, clean_db, report, replica_acks
):
    servers = sentinelled_redis
    service.env.update(
        REDIS_SENTINELS=servers.addresses,
        REDIS_SENTINEL_MASTER=MASTER,
        # Only its database number counts now: a closed port shows nothing dials it.
        REDIS_URL="redis://127.0.0.1:1/0",
        REDIS_REPLICA_ACKS=str(replica_acks),
        REDIS_TIMEOUT_SECONDS="1",
        CLAIM_IDLE_SECONDS="3",
        REFRESH_SECONDS="1",
    )
    service.start("web")
    service.start("worker")
    # Beat and the broker go through the Sentinels too (kombu's sentinel transport).
    service.start("beat")
    load = devices(batch=10, rate=50)
    wait_until(lambda: load.acked_count() > 2000, what="readings accepted through the Sentinels")

    # The writers fall behind (stopped: what is accepted now stays in Redis only), the replica
    # falls a second behind (a congested link, a far data centre), then the primary dies and
    # the link with it: what it answered 202 in that second is on no replica.
    service.stop("worker")
    servers.lag_replica_for(1)
    acked_at_kill = load.acked_count()
    servers.primary.kill()
    servers.link.cut()
    wait_until(
        lambda: servers.master_port() == servers.replica.port, 30, "the Sentinels to fail over"
    )
    # The old primary's machine comes back: the Sentinels make it the new primary's replica,
    # which REDIS_REPLICA_ACKS=1 needs before it can promise anything again.
    servers.primary.start()
    service.start("worker")
    back_at = load.acked_count()
    wait_until(lambda: load.acked_count() > back_at + 2000, 60, "202s again, same processes")
    failed_over_at = time.time()
    wait_until(
        lambda: any(start > failed_over_at for start in refreshes(service)),
        60,
        "a refresh sent by beat and run by the worker through the new primary",
    )
    ledger = load.stop()

    settings = Settings.from_env(service.env)
    stream = IngestStream(client_for(settings), settings.redis_key_prefix)
    wait_until(lambda: stream.backlog() == 0, 90, "the worker to drain the new primary")
    figures = {
        "replica_acks": replica_acks,
        "acked_before_kill": acked_at_kill,
        "answers": {str(k): v for k, v in ledger.statuses.items()},
    }
    if replica_acks:
        figures.update(check_ledger(clean_db, ledger, load.prefix), lost=0)
        assert ledger.statuses[503] > 0  # it did refuse while it could not promise
    else:
        stored = stored_keys(clean_db, load.prefix)
        assert all(count == 1 for count in stored.values()), "a reading stored twice"
        assert stored.keys() <= ledger.sent.keys(), "a stored reading was never sent"
        lost = len(ledger.acked - stored.keys())
        figures.update(sent=len(ledger.sent), acknowledged=len(ledger.acked), lost=lost)
        assert lost > 0, "without replica acks the stalled second's 202s cannot all survive"
    report(**figures)

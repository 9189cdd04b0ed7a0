"""Fault: three app hosts (network namespaces, each with web, worker, and beat on two of them)
share one PostgreSQL and one Redis over veth pairs; devices post to every host. Every process of
the host holding a batch and beat's lease is SIGKILLed at once: the other hosts claim its
pending entries, the standby beat takes over, refreshes never overlap, and when the host comes
back under the same names nothing is lost or doubled."""

from __future__ import annotations

import itertools
import time
import uuid

from buffer.stream import IngestStream
from storage.redis_client import connect
from tests.faults.devices import Devices, check_ledger
from tests.support.helpers import refresh_spans, wait_until
from tests.support.netns import hosts

__all__ = ["hosts"]


def refreshes(services) -> list[tuple[float, float]]:
    """(started, ended) of every refresh any host's worker ran, in order."""
    spans = []
    for service in services:
        if (service.logs / "worker.log").exists():
            spans += refresh_spans(service.log("worker"))
    return sorted(spans)


def consumers(stream: IngestStream) -> dict[str, int]:
    return {c["name"]: c["pending"] for c in stream.stats().consumers}


def test_a_host_killed_whole_loses_nothing_and_beat_fails_over(
    hosts, service_env, clean_db, redis_client, report
):
    settings = {
        "WEB_CONCURRENCY": "1",
        "WORKER_CONCURRENCY": "1",
        "CLAIM_IDLE_SECONDS": "3",
        "REFRESH_SECONDS": "1",
        "BEAT_LEASE_SECONDS": "6",
    }
    h1, h2, h3 = (hosts(n, **settings) for n in (1, 2, 3))
    services = [h.service for h in (h1, h2, h3)]
    for host in (h1, h2, h3):
        host.service.start("web")
        host.service.start("worker")
    h1.service.start("beat")
    wait_until(lambda: "event=beat_leader" in h1.service.log("beat"), 30, "h1's beat to lead")
    h2.service.start("beat")
    wait_until(lambda: "event=beat_standby" in h2.service.log("beat"), 30, "h2's beat to wait")

    loads = [
        Devices(h.service.url, f"N{uuid.uuid4().hex[:5]}", meters=20, batch=10, rate=15)
        for h in (h1, h2, h3)
    ]
    for load in loads:
        load.start()
    stream = IngestStream(connect(service_env["REDIS_URL"], 5), service_env["REDIS_KEY_PREFIX"])
    wait_until(lambda: sum(x.acked_count() for x in loads) > 3000, 60, "readings accepted")
    names = set(consumers(stream))
    assert {"celery@h1#0", "celery@h2#0", "celery@h3#0"} <= names, names
    wait_until(lambda: consumers(stream).get("celery@h1#0", 0) > 0, 30, "h1 holding a batch")

    held = consumers(stream)["celery@h1#0"]
    killed_at = time.time()
    processes = h1.kill()
    # The other hosts claim what h1 held; the standby beat leads; refreshes go on.
    wait_until(lambda: consumers(stream)["celery@h1#0"] == 0, 60, "h1's entries to be claimed")
    wait_until(lambda: "event=beat_leader" in h2.service.log("beat"), 30, "h2's beat to lead")
    wait_until(
        lambda: any(start > killed_at + 6 for start, _ in refreshes(services)),
        30,
        "a refresh sent by h2's beat",
    )

    # h1 comes back as it was: same hostname, so the same node and consumer names.
    for process in ("web", "worker", "beat"):
        h1.service.start(process)
    wait_until(lambda: "event=beat_standby" in h1.service.log("beat"), 30, "h1's beat to wait")
    back = loads[0].acked_count()
    wait_until(lambda: loads[0].acked_count() > back + 1000, 60, "h1 accepting again")
    ledgers = [load.stop() for load in loads]
    wait_until(lambda: stream.backlog() == 0, 90, "the hosts to drain the stream")

    figures = [
        check_ledger(clean_db, ledger, load.prefix)
        for load, ledger in zip(loads, ledgers, strict=True)
    ]
    spans = refreshes(services)
    overlaps = [(a, b) for a, b in itertools.pairwise(spans) if b[0] < a[1]]
    assert not overlaps, f"refreshes ran at once: {overlaps[:3]}"
    assert set(consumers(stream)) == names  # h1 came back under its own names
    report(
        hosts=3,
        processes_killed=processes,
        entries_held_by_killed_host=held,
        refreshes=len(spans),
        refreshes_after_kill=sum(1 for s, _ in spans if s > killed_at),
        devices={h.hostname: f for h, f in zip((h1, h2, h3), figures, strict=True)},
        answers={
            h.hostname: {str(k): v for k, v in ledger.statuses.items()}
            for h, ledger in zip((h1, h2, h3), ledgers, strict=True)
        },
    )

"""Which Celery pools run the stream consumers, and how the ingest shows in Celery's tools.

prefork and solo: one consumer in each pool process (celery_app's worker_process_init).
threads: the worker's one process runs --concurrency consumers (the ThreadConsumers step).
gevent and eventlet: refused at start. The consumers make blocking psycopg2 calls, which would
stall every greenlet of the worker, and a green pool's concurrency (hundreds) says nothing about
how many database writers to run.
`celery -A workers inspect ingest` lists each worker's consumers with what they hold.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps
from celery.concurrency import get_implementation
from celery.worker.control import inspect_command

from workers import drain, events, resources

REFUSED = ("gevent", "eventlet")


def kind(pool_cls: Any) -> str:
    """prefork, solo, threads, gevent, eventlet (or a custom pool's module name)."""
    if isinstance(pool_cls, str):
        pool_cls = get_implementation(pool_cls)
    module = getattr(pool_cls, "__module__", "")
    name = module.rsplit(".", 1)[-1]
    return {"thread": "threads"}.get(name, name)


def refusal(pool_cls: Any) -> str | None:
    pool = kind(pool_cls)
    if pool not in REFUSED:
        return None
    return (
        f"--pool {pool} cannot run the ingest consumers (their PostgreSQL calls block, which "
        "would stall every greenlet): use --pool prefork (the default), threads or solo"
    )


class ThreadConsumers(bootsteps.StartStopStep):
    """With --pool threads, the worker's one process runs --concurrency consumers."""

    requires = ("celery.worker.components:Pool",)

    def include_if(self, worker: Any) -> bool:
        return kind(worker.pool_cls) == "threads"

    def start(self, worker: Any) -> None:
        observe = events.observer(worker.app, worker.hostname)
        drain.start(worker.hostname, observe, list(range(worker.concurrency)))

    def stop(self, worker: Any) -> None:
        drain.stop()


@inspect_command()
def ingest(state: Any) -> dict[str, Any]:
    """This worker's stream consumers: name, entries held, idle ms; and the stream's backlog."""
    stream = resources.stream()
    stats = stream.stats()
    mine = f"{state.consumer.hostname}#"
    return {
        "consumers": [c for c in stats.consumers if c["name"].startswith(mine)],
        "backlog": stats.backlog,
        "pending": stats.pending,
    }

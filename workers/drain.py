"""Runs the stream consumers beside Celery's pool, whatever the pool.

Celery owns the processes (their number is --concurrency, their restarts are its own). With the
prefork pool (the default) and solo, each pool process, once started, runs one consumer thread;
with the threads pool, the worker's one process runs --concurrency of them. gevent and eventlet
are refused at start (workers/pools.py). Consumers are named after the worker's node name and
their index: a process that replaces a dead one gets the same index, hence the same name, and so
re-reads what its predecessor held before taking anything new.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from billiard.process import current_process

from settings import get_settings
from workers import resources
from workers.consumer import BatchReport, Consumer

# What to do with each committed batch: (consumer name, report). The Celery app hands it over
# (workers/events.py: metrics and the event Flower shows), so that this module needs no app.
Observer = Callable[[str, BatchReport], None]

log = logging.getLogger(__name__)

_threads: list[threading.Thread] = []
_stop = threading.Event()

# Long enough to finish a batch in hand; past it the process exits and the batch stays pending.
STOP_TIMEOUT_SECONDS = 30


def consumer_name(hostname: str, index: int | None = None) -> str:
    if index is None:
        index = getattr(current_process(), "index", 0)
    return f"{hostname}#{index}"


def start(hostname: str, observe: Observer, indexes: list[int | None] | None = None) -> None:
    """One consumer per index (default: this pool process's own), each on its own thread."""
    _stop.clear()
    for index in indexes if indexes is not None else [None]:
        name = consumer_name(hostname, index)
        consumer = Consumer(
            name,
            resources.stream(),
            resources.engine(),
            get_settings(),
            on_batch=functools.partial(observe, name),
        )
        thread = threading.Thread(target=consumer.run, args=(_stop,), name=f"consumer {name}")
        thread.daemon = True
        thread.start()
        _threads.append(thread)


def stop() -> None:
    _stop.set()
    for thread in _threads:
        thread.join(STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            # Its batch stays pending: a successor takes it over.
            log.warning("event=consumer_stop_timeout")
    _threads.clear()

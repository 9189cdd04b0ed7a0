"""What the OCPP handlers store through: the ingest stream (a charger's readings, durably
queued as a 202 would be) and PostgreSQL (its transactions). Both are blocking clients: the
WebSocket server calls them from worker threads (chargers/central.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Connection, Engine

from buffer.stream import IngestStream, queue
from chargers.mapping import Contract
from devices import transactions
from readings.records import Record
from settings import Settings

T = TypeVar("T")


@dataclass
class Backend:
    settings: Settings
    stream: IngestStream
    engine: Engine  # the primary: transactions are written
    contract: Contract

    def queue(self, records: list[Record]) -> None:
        """Durably queue the readings, or raise (BufferFull, NotReplicated, RedisError)."""
        queue(self.stream, self.settings, records)

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    def start(
        self, cp: str, connector: int, id_tag: str | None, at: datetime, kwh: Decimal | None
    ) -> int:
        return self._in_transaction(
            lambda conn: transactions.start(conn, cp, connector, id_tag, at, kwh)
        )

    def connector_of_16(self, cp: str, transaction_id: int) -> int | None:
        return self._in_transaction(
            lambda conn: transactions.connector_of_id(conn, cp, transaction_id)
        )

    def stop(
        self, cp: str, transaction_id: int, at: datetime, kwh: Decimal | None, reason: str | None
    ) -> None:
        self._in_transaction(
            lambda conn: transactions.stop(conn, cp, transaction_id, at, kwh, reason)
        )

    def connector_of_201(self, cp: str, ref: str) -> int | None:
        return self._in_transaction(lambda conn: transactions.connector_of(conn, cp, ref))

    def event(self, cp: str, ref: str, evse: int, event_type: str, at: datetime,
              id_tag: str | None, kwh: Decimal | None, reason: str | None) -> None:  # fmt: skip
        self._in_transaction(
            lambda conn: transactions.event(
                conn, cp, ref, evse, event_type, at, id_tag, kwh, reason
            )
        )

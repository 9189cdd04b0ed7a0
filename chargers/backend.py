"""What the OCPP handlers store through: the ingest stream (a charger's readings, durably
queued as a 202 would be) and PostgreSQL (its transactions). Both are blocking clients: the
WebSocket server calls them from worker threads (chargers/central.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Connection, Engine

from buffer.stream import IngestStream, queue
from chargers.mapping import Contract
from devices import availability, transactions
from readings import samples as readings_samples
from readings import signed as readings_signed
from readings.records import Record
from readings.samples import Sample
from readings.signed import SignedValue
from settings import Settings

T = TypeVar("T")


@dataclass
class Backend:
    settings: Settings
    stream: IngestStream
    engine: Engine  # the primary: transactions are written
    contract: Contract
    # When each charger's being heard was last written (time.monotonic()): see `due`.
    written: dict[str, float] = field(default_factory=dict)

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

    def measured(self, samples: list[Sample], signed: list[SignedValue]) -> None:
        """What a message said besides its readings, in one transaction."""

        def keep(conn: Connection) -> None:
            readings_samples.keep(conn, samples)
            readings_signed.keep(conn, signed)

        self._in_transaction(keep)

    def status(
        self,
        meter: str,
        at: datetime,
        status: str,
        connector_id: int,
        codes: tuple[str | None, str | None, str | None],
    ) -> None:
        error_code, vendor_error_code, info = codes
        self._in_transaction(
            lambda conn: availability.record_status(
                conn,
                meter,
                at,
                status,
                connector_id=connector_id,
                error_code=error_code,
                vendor_error_code=vendor_error_code,
                info=info,
            )
        )

    def opened(self, cp: str, at: datetime) -> None:
        self._in_transaction(lambda conn: availability.opened(conn, cp, at))

    def seen(self, cp: str, opened_at: datetime, at: datetime) -> None:
        self._in_transaction(lambda conn: availability.seen(conn, cp, opened_at, at))

    def closed(self, cp: str, opened_at: datetime, at: datetime) -> None:
        self._in_transaction(lambda conn: availability.closed(conn, cp, opened_at, at))

    def heard_forwarded(self, cp: str, at: datetime) -> None:
        if self.due(cp):
            silence = self.settings.ocpp_silence
            self._in_transaction(lambda conn: availability.heard_forwarded(conn, cp, at, silence))

    def due(self, cp: str) -> bool:
        """Whether to write that the charger was heard from: at most once a minute (half a
        heartbeat interval, if shorter) per charger, so that ten thousand chargers cost the
        database a few writes a second; a connection's end is known to that precision when its
        process dies unannounced, and a forwarded charger's silence likewise."""
        now = time.monotonic()
        if now - self.written.get(cp, -1e18) < min(60.0, self.settings.ocpp_heartbeat_seconds / 2):
            return False
        self.written[cp] = now
        return True

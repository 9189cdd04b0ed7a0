"""The central system's side of OCPP 1.6J and 2.0.1, for one charger: validation and routing by
mobilityhouse's `ocpp` package, the handlers here (docs/OCPP.md says what each answers).

We monitor, we do not control: every ID tag is Accepted, and nothing is ever sent to a charger
unasked. A message carrying readings (MeterValues, StartTransaction, StopTransaction,
TransactionEvent) is confirmed only once its readings are durably queued, as a 202 is; when the
buffer cannot take them the charger gets a CALLERROR instead, keeps the message and sends it
again, and the resend is stored once (a reading's identity is its meter and timestamp).

Frames are read by chargers/frames.py (a CALL, an unsolicited answer to drop, or a CALLERROR to
send). Each message is logged as one line (charger, action, size, outcome), never its body: the
package's own logger, which writes frames whole, is given only what a handler's failure says.

One module past 400 lines because the two versions' handlers are one piece: each is a thin
`@on` method over the shared `_Central` (store, refuse, time, meter), and split apart the shared
rules would be read in one file and applied in another.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import redis
from ocpp.exceptions import (
    InternalError,
    OCPPError,
    PropertyConstraintViolationError,
)
from ocpp.messages import CallError, MessageType
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

import metrics
from buffer.stream import BufferFull, NotReplicated
from chargers import frames, mapping
from chargers.backend import Backend
from devices.cache import CredentialsUnavailable
from models.kinds import METER

log = logging.getLogger(__name__)
T = TypeVar("T")
ACCEPTED = {"status": "Accepted"}


# Whether the charger's own token is still live (chargers/server.py); None: nothing to check.
TokenCheck = Callable[[], Awaitable[bool]]


class TokenRevoked(Exception):
    """The charger's token was revoked or rotated while it was connected: nothing more of this
    connection is confirmed, and the server closes it."""


class Connection(Protocol):
    async def send(self, message: str) -> None: ...

    async def recv(self) -> str: ...


class _Summarised(logging.Filter):
    """The package logs a failing handler with the whole message as an argument: each argument
    becomes its kind and size, the traceback stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_summary(arg) for arg in record.args)
        return True


def _summary(arg: Any) -> Any:
    if isinstance(arg, int | float):
        return arg
    shown = str(arg)
    return shown if len(shown) <= 120 else f"<{type(arg).__name__}: {len(shown)} characters>"


_LIBRARY_LOG = logging.getLogger("chargers.ocpp_package")
_LIBRARY_LOG.addFilter(_Summarised())


def _error_code(message: str) -> str:
    """A CALLERROR's code, for the log (the frame is ours: [4, id, code, ...])."""
    return str(json.loads(message)[2])


async def quietly(work: Callable[..., None], *args: Any) -> None:
    """Record that a charger was heard from, connected or gone, off the event loop: with the
    database away this is logged, never a reason to refuse the charger."""
    try:
        await asyncio.to_thread(work, *args)
    except SQLAlchemyError as exc:
        log.warning("event=charger_presence_not_recorded charger=%s error=%r", args[0], str(exc))


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Central:
    """What both versions' handlers share: exact parsing, storing, and the metrics."""

    _ocpp_version: str
    _action = "unknown"
    _size = 0
    id: str
    allowed: TokenCheck | None = None
    # When this charger's WebSocket opened (chargers/server.py): its messages keep it heard.
    opened_at: datetime | None = None

    def __init__(self, charge_point_id: str, connection: Connection, backend: Backend) -> None:
        super().__init__(charge_point_id, connection, logger=_LIBRARY_LOG)  # type: ignore[call-arg]
        self.backend = backend

    async def start(self) -> None:
        """Serve the charger's frames one at a time until its connection closes: our own loop,
        not the package's, which logs every frame whole."""
        while True:
            await self.route_message(await self._connection.recv())  # type: ignore[attr-defined]

    async def route_message(self, raw_msg: str | bytes) -> None:
        self._action, self._size = "unknown", len(raw_msg)
        try:
            call = frames.read(raw_msg, self._ocpp_version)
        except frames.NotAFrame as refused:
            error = CallError(refused.unique_id, refused.code, refused.description, {})
            await self._send(error.to_json())
            return
        if call is None:
            metrics.OCPP_MESSAGES.labels(self._ocpp_version, "answer", "dropped").inc()
            log.info(
                "event=ocpp_message charger=%s action=answer bytes=%d outcome=dropped "
                "code=unsolicited",
                self.id,
                self._size,
            )
            return
        self._action = frames.action_label(call.action, self._ocpp_version)
        if self.opened_at is not None and self.backend.due(self.id):
            await quietly(self.backend.seen, self.id, self.opened_at, datetime.now(UTC))
        try:
            await self._check_token()
            await self._handle_call(call)  # type: ignore[attr-defined]
        except OCPPError as error:
            await self._send(call.create_call_error(error).to_json())

    async def _send(self, message: str) -> None:
        """Every answer goes out here: counted and logged (one line, never a body) by the call
        it answers and how."""
        confirmed = message.startswith(f"[{MessageType.CallResult},")
        outcome = "confirmed" if confirmed else "error"
        metrics.OCPP_MESSAGES.labels(self._ocpp_version, self._action, outcome).inc()
        log.info(
            "event=ocpp_message charger=%s action=%s bytes=%d outcome=%s code=%s",
            self.id,
            self._action,
            self._size,
            outcome,
            "-" if confirmed else _error_code(message),
        )
        await self._connection.send(message)  # type: ignore[attr-defined]

    async def _check_token(self) -> None:
        if self.allowed is None:
            return
        try:
            live = await self.allowed()
        except CredentialsUnavailable as exc:
            raise InternalError(
                description="This charger's credentials cannot be checked now; send it again later."
            ) from exc
        if not live:
            raise TokenRevoked(self.id)

    def close(self) -> None:
        """Let go of what this charger held: its handlers (bound methods, a cycle through this
        object) and its connection, so that a closed connection is freed at once, not at the next
        full collection (the server keeps long-lived objects out of it: chargers/server.py)."""
        self.route_map: dict[str, Any] = {}
        self._connection = None
        self.allowed = None

    async def _blocking(self, work: Callable[..., T], *args: Any) -> T:
        """A backend call, off the event loop; what goes wrong becomes the CALLERROR the
        charger retries on."""
        try:
            return await asyncio.to_thread(work, *args)
        except (BufferFull, NotReplicated, redis.RedisError) as exc:
            raise InternalError(
                description=f"The readings could not be queued ({type(exc).__name__}); "
                "send the message again later."
            ) from exc
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            log.warning("event=ocpp_database_unavailable charger=%s error=%r", self.id, str(exc))
            raise InternalError(
                description="The database is not reachable; send the message again later."
            ) from exc
        except SQLAlchemyError as exc:  # not the charger's doing: validation comes first
            log.exception("event=ocpp_database_error charger=%s", self.id)
            raise InternalError(
                description="The message could not be recorded; send it again later."
            ) from exc

    async def _store(self, action: str, mapped: mapping.Mapped) -> None:
        """Queue the good readings; count and log the refused values (docs/DESIGN.md, "One
        validation"): a resend cannot mend a refused value, so the message is still confirmed,
        and its transaction's start or stop still recorded."""
        await self._blocking(self.backend.queue, mapped.records)
        if mapped.samples or mapped.signed:
            await self._blocking(self.backend.measured, mapped.samples, mapped.signed)
        if mapped.refused:
            metrics.OCPP_VALUES_REFUSED.labels(self._ocpp_version).inc(len(mapped.refused))
            log.warning(
                "event=ocpp_values_refused charger=%s action=%s count=%d first=%s",
                self.id,
                action,
                len(mapped.refused),
                "; ".join(f"{what}: {why}" for what, why in mapped.refused[:3])[:500],
            )

    def _values(
        self, meter: str, values: list[dict[str, Any]] | None, transaction: int | str | None = None
    ) -> mapping.Mapped:
        return mapping.meter_values(
            meter,
            values or [],
            self.backend.contract,
            v201=self._ocpp_version != "1.6",
            transaction=None if transaction is None else str(transaction),
        )

    def _meter(self, connector: Any) -> str:
        """The meter of a connector or EVSE; a number no charger has refuses the message before
        anything of it is stored."""
        try:
            return mapping.meter_id(self.id, connector)
        except ValueError as exc:
            raise PropertyConstraintViolationError(description=str(exc)) from exc

    @staticmethod
    def _when(value: Any) -> datetime:
        """A transaction message's own time; one that cannot be read refuses the message."""
        try:
            return mapping.when(value)
        except ValueError as exc:
            raise PropertyConstraintViolationError(description=f"timestamp: {exc}") from exc

    async def _status(
        self,
        connector: Any,
        timestamp: str | None,
        status: str,
        connector_id: int,
        codes: tuple[str | None, str | None, str | None],
    ) -> None:
        """Keep a StatusNotification at its own time (else when it came), confirmed once kept: a
        CALLERROR while the database is away, which the charger resends."""
        at = self._when(timestamp) if timestamp else datetime.now(UTC)
        meter = self._meter(connector)
        await self._blocking(self.backend.status, meter, at, status, connector_id, codes)

    @staticmethod
    def _register_kept(mapped: mapping.Mapped) -> Decimal | None:
        """The register of a transaction's end, when the contract took it."""
        registers = [METER.register_of(r) for r in mapped.records]
        return Decimal(registers[-1]) if registers and registers[-1] is not None else None


class Central16(_Central, ChargePoint16):
    @on("BootNotification")
    def boot_notification(self, **_: Any) -> result16.BootNotification:
        interval = self.backend.settings.ocpp_heartbeat_seconds
        return result16.BootNotification(current_time=now(), interval=interval, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=now())

    @on("StatusNotification")
    async def status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        timestamp: str | None = None,
        info: str | None = None,
        vendor_error_code: str | None = None,
        **_: Any,
    ) -> result16.StatusNotification:
        # NoError is 1.6's way of saying none.
        codes = (None if error_code == "NoError" else error_code, vendor_error_code, info)
        await self._status(connector_id, timestamp, status, 0, codes)
        return result16.StatusNotification()

    @on("Authorize")
    def authorize(self, id_tag: str) -> result16.Authorize:
        return result16.Authorize(id_tag_info=ACCEPTED)

    @on("DataTransfer")
    def data_transfer(self, vendor_id: str, **_: Any) -> result16.DataTransfer:
        return result16.DataTransfer(status="UnknownVendorId")

    @on("MeterValues")
    async def meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        transaction_id: int | None = None,
        **_: Any,
    ) -> result16.MeterValues:
        meter = self._meter(connector_id)
        await self._store("MeterValues", self._values(meter, meter_value, transaction_id))
        return result16.MeterValues()

    @on("StartTransaction")
    async def start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> result16.StartTransaction:
        at = self._when(timestamp)
        meter = self._meter(connector_id)
        start = mapping.register_reading(meter, timestamp, meter_start, self.backend.contract)
        await self._store("StartTransaction", start)
        kwh = self._register_kept(start)
        transaction = await self._blocking(
            self.backend.start, self.id, connector_id, id_tag, at, kwh
        )
        return result16.StartTransaction(transaction_id=transaction, id_tag_info=ACCEPTED)

    @on("StopTransaction")
    async def stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> result16.StopTransaction:
        at = self._when(timestamp)
        connector = await self._blocking(self.backend.connector_of_16, self.id, transaction_id)
        if connector is None:
            raise PropertyConstraintViolationError(
                description=f"No transaction {transaction_id} of this charger is known."
            )
        meter = self._meter(connector)
        stop = mapping.register_reading(meter, timestamp, meter_stop, self.backend.contract)
        mapped = self._values(meter, transaction_data, transaction_id)
        mapped += stop
        await self._store("StopTransaction", mapped)
        kwh = self._register_kept(stop)
        await self._blocking(self.backend.stop, self.id, transaction_id, at, kwh, reason)
        return result16.StopTransaction(id_tag_info=ACCEPTED)


class Central201(_Central, ChargePoint201):
    @on("BootNotification")
    def boot_notification(self, **_: Any) -> result201.BootNotification:
        interval = self.backend.settings.ocpp_heartbeat_seconds
        return result201.BootNotification(current_time=now(), interval=interval, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=now())

    @on("StatusNotification")
    async def status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> result201.StatusNotification:
        await self._status(evse_id, timestamp, connector_status, connector_id, (None, None, None))
        return result201.StatusNotification()

    @on("Authorize")
    def authorize(self, id_token: dict[str, Any], **_: Any) -> result201.Authorize:
        return result201.Authorize(id_token_info=ACCEPTED)

    @on("MeterValues")
    async def meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> result201.MeterValues:
        meter = self._meter(evse_id)
        await self._store("MeterValues", self._values(meter, meter_value))
        return result201.MeterValues()

    @on("TransactionEvent")
    async def transaction_event(
        self,
        event_type: str,
        timestamp: str,
        transaction_info: dict[str, Any],
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        meter_value: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> result201.TransactionEvent:
        at = self._when(timestamp)
        ref = str(transaction_info["transaction_id"])
        evse_id = evse["id"] if evse else None
        if evse_id is None:
            evse_id = await self._blocking(self.backend.connector_of_201, self.id, ref)
        if evse_id is None:
            raise PropertyConstraintViolationError(
                description=f"Transaction {ref} is new to this central system and names no EVSE."
            )
        mapped = self._values(self._meter(evse_id), meter_value, ref)
        await self._store("TransactionEvent", mapped)
        registers = [METER.register_of(r) for r in mapped.records]
        known = [Decimal(r) for r in registers if r is not None]
        register = known[-1 if event_type == "Ended" else 0] if known else None
        tag = id_token.get("id_token") if id_token else None
        reason = transaction_info.get("stopped_reason")
        await self._blocking(
            self.backend.event, self.id, ref, evse_id, event_type, at, tag, register, reason
        )
        if id_token:
            return result201.TransactionEvent(id_token_info=ACCEPTED)
        return result201.TransactionEvent()


CENTRALS: dict[str, type[Central16] | type[Central201]] = {
    "ocpp1.6": Central16,
    "ocpp2.0.1": Central201,
}

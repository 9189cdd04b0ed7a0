"""The chargers' WebSocket endpoint: ws://HOST:OCPP_PORT/ocpp/<chargePointId>, subprotocols
ocpp1.6 and ocpp2.0.1, OCPP security profile 1 (HTTP Basic on the upgrade: the charge point's
ID and its token). Everything else is refused at the upgrade: a wrong path (404), missing or
wrong credentials (401), an unknown subprotocol (400, by `websockets` itself), credentials
that cannot be judged now (503, while PostgreSQL is away and the token was never seen).

One event loop serves every charger; what blocks (the stream, PostgreSQL, a token's lookup)
runs on worker threads. Compression is off: its buffers would cost each of thousands of idle
connections far more memory than their rare, small messages save.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gc
import hmac
import logging
import re
import signal
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

import metrics
from buffer.stream import IngestStream
from chargers import tls
from chargers.backend import Backend
from chargers.central import CENTRALS, TokenCheck, TokenRevoked, quietly
from chargers.mapping import Contract
from devices import charger_ids, credentials
from devices.cache import CredentialCache, CredentialsUnavailable, KnownCredentials
from devices.credentials import Device
from settings import Settings
from storage.connections import OCPP_POOL
from storage.db import make_engine
from storage.redis_client import client_for

log = logging.getLogger(__name__)
PATH = re.compile(r"/ocpp/([^/]+)")
CHARGER = "charger"
MAX_FRAME_BYTES, MAX_QUEUED_FRAMES = 1024 * 1024, 4
_GIVE_BASIC = (
    "Give HTTP Basic credentials: the charge point's ID as the user, its token as the password.\n"
)


def charge_point_of(path: str) -> str | None:
    """The charge point a connection's path names; None unless it is a charger's ID."""
    found = PATH.fullmatch(path.split("?", 1)[0])
    return found[1] if found and charger_ids.problem(found[1]) is None else None


def basic(header: str | None) -> tuple[str, str] | None:
    """The user and password of an `Authorization: Basic ...` header."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Gate:
    """Who may connect as a charge point: its own token (`flask devices add charger <id>`) or a
    gateway token of DEVICE_TOKENS, given as the password with the charge point's ID; or, at
    security profile 3, its verified client certificate (chargers/tls.py). Never below the
    charger's profile."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialCache,
        profile_of: Callable[[str], int] = lambda _: 1,
    ) -> None:
        self.settings, self.credentials, self.profile_of = settings, credentials, profile_of
        self.tls = bool(settings.ocpp_tls_cert)
        # The charger's own token, for the connections it opened: checked again while they last.
        self.tokens: weakref.WeakKeyDictionary[ServerConnection, str] = weakref.WeakKeyDictionary()

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        charge_point = charge_point_of(request.path)
        if charge_point is None:
            return connection.respond(
                HTTPStatus.NOT_FOUND,
                f"Connect to /ocpp/<chargePointId> (a charger id is {charger_ids.RULE}).\n",
            )
        if self.settings.auth_disabled:
            return None
        try:
            profile = await asyncio.to_thread(self.profile_of, charge_point)
        except SQLAlchemyError:
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "Credentials cannot be checked now; retry.\n"
            )
        common_name = tls.client_common_name(connection.transport)
        refused = tls.refusal(profile, charge_point, self.tls, common_name)
        if refused:
            return self._unauthorized(connection, refused)
        if tls.certified(profile, charge_point, common_name):
            return None
        given = basic(request.headers.get("Authorization"))
        if given is None or given[0] != charge_point:
            return self._unauthorized(connection, _GIVE_BASIC)
        if self._gateway(given[1]):
            return None
        try:
            device = await asyncio.to_thread(self.credentials.device, given[1])
        except CredentialsUnavailable:
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "Credentials cannot be checked now; retry.\n"
            )
        if not self._owns(charge_point, device):
            return self._unauthorized(connection, "Unknown credentials for this charge point.\n")
        self.tokens[connection] = given[1]
        return None

    def _gateway(self, password: str) -> bool:
        gateway = False
        for token in self.settings.device_tokens:
            gateway |= hmac.compare_digest(password.encode(), token.encode())
        return gateway

    @staticmethod
    def _owns(charge_point: str, device: Device | None) -> bool:
        return device is not None and device.kind == CHARGER and device.id == charge_point

    def still_allowed(self, connection: ServerConnection, charge_point: str) -> TokenCheck | None:
        """For a charger on its own token: what tells, as the connection goes on, whether the
        token is still live (revoked or rotated: the connection is closed within
        DEVICE_TOKEN_CACHE_SECONDS). A gateway token is the deployment's: nothing to check."""
        token = self.tokens.pop(connection, None)
        if token is None:
            return None
        cache = self.credentials

        async def check() -> bool:
            if cache.must_look_up(token):
                device = await asyncio.to_thread(cache.device, token)
            else:
                device = cache.device(token)
            return self._owns(charge_point, device)

        return check

    @staticmethod
    def _unauthorized(connection: ServerConnection, message: str) -> Response:
        response = connection.respond(HTTPStatus.UNAUTHORIZED, message)
        response.headers["WWW-Authenticate"] = 'Basic realm="ev-telemetry ocpp"'
        return response


def _profile_reader(engine: Engine) -> Callable[[str], int]:
    def profile_of(charge_point: str) -> int:
        with engine.connect() as conn:
            return credentials.profile_of(conn, charge_point)

    return profile_of


def build_backend(settings: Settings) -> tuple[Backend, CredentialCache]:
    stream = IngestStream(client_for(settings), settings.redis_key_prefix)
    engine = make_engine(settings, pool_size=OCPP_POOL, application_name="ev-ocpp")
    backend = Backend(settings, stream, engine, Contract.of(settings))
    known = KnownCredentials(stream.redis, settings.redis_key_prefix)
    return backend, CredentialCache(engine, known, settings.device_token_cache_seconds)


async def handle(connection: ServerConnection, backend: Backend, gate: Gate) -> None:
    charge_point = charge_point_of(connection.request.path if connection.request else "")
    central_class = CENTRALS.get(connection.subprotocol or "")
    if charge_point is None or central_class is None:  # the upgrade let neither through
        await connection.close(1002)
        return
    central = central_class(charge_point, connection, backend)  # type: ignore[arg-type]
    central.allowed = gate.still_allowed(connection, charge_point)
    opened_at = central.opened_at = datetime.now(UTC)
    await quietly(backend.opened, charge_point, opened_at)
    metrics.OCPP_CONNECTIONS.inc()
    log.info("event=charger_connected charger=%s protocol=%s", charge_point, connection.subprotocol)
    try:
        await central.start()
    except ConnectionClosed:
        pass
    except TokenRevoked:
        log.warning("event=charger_token_revoked charger=%s", charge_point)
        await connection.close(CloseCode.POLICY_VIOLATION, "This charger's token was revoked.")
    finally:
        central.close()
        await quietly(backend.closed, charge_point, opened_at, datetime.now(UTC))
        metrics.OCPP_CONNECTIONS.dec()
        log.info("event=charger_disconnected charger=%s", charge_point)


# Thousands of connections make hundreds of thousands of long-lived objects, and every full
# collection walked them all: pauses of 0.3 to 1.1 s at 10,000 chargers (bench/ocpp_load.py),
# each holding back every confirmation due meanwhile. What has lived 5 s is frozen
# (skipped by the collector); once an hour everything is thawed and collected, so that cycles
# left by closed connections are reclaimed: one pause an hour.
FREEZE_EVERY_SECONDS, THAW_EVERY_SECONDS = 5.0, 3600.0


async def _collect_young_only() -> None:
    thawed = time.monotonic()
    while True:
        await asyncio.sleep(FREEZE_EVERY_SECONDS)
        if time.monotonic() - thawed >= THAW_EVERY_SECONDS:
            gc.unfreeze()
            gc.collect()
            thawed = time.monotonic()
        gc.freeze()


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve chargers until SIGTERM or SIGINT (or `stop` is set)."""
    backend, credentials = build_backend(settings)
    gate = Gate(settings, credentials, _profile_reader(backend.engine))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    server: Server
    async with serve(
        lambda connection: handle(connection, backend, gate),
        settings.host,
        settings.ocpp_port,
        subprotocols=[Subprotocol(name) for name in CENTRALS],
        process_request=gate,
        ssl=tls.server_context(settings),
        compression=None,
        # Keepalive pings to 10,000 chargers every 20 s (the library's default) cost the process
        # 0.9 ms of CPU per MeterValues confirmed (docs/PERFORMANCE.md); chargers heartbeat too.
        ping_interval=120,
        # What one charger may make the process hold: a frame of at most MAX_FRAME_BYTES being
        # handled and MAX_QUEUED_FRAMES waiting (a charger waits for each answer anyway).
        max_size=MAX_FRAME_BYTES,
        max_queue=MAX_QUEUED_FRAMES,
    ) as server:
        log.info(
            "event=ocpp_listening host=%s port=%s tls=%s",
            settings.host,
            settings.ocpp_port,
            "yes" if gate.tls else "no",
        )
        gc.freeze()
        collector = asyncio.create_task(_collect_young_only())
        await stop.wait()
        collector.cancel()
        server.close()
    backend.engine.dispose()

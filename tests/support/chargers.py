"""Chargers in end-to-end tests: the ocpp process started beside web and worker, and a charger
played by the `ocpp` package's own client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.support.constants import DEVICE_TOKEN
from tests.support.helpers import listening, wait_until
from tools.local import free_port


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def start_chargers(service: Any) -> str:
    """web, worker and ocpp running; the ocpp process's ws:// base URL."""
    port = free_port()
    service.env["OCPP_PORT"] = str(port)
    service.start("web")
    service.start("worker")
    service.start("ocpp")
    wait_until(lambda: listening(port), what="ocpp to listen")
    return f"ws://127.0.0.1:{port}/ocpp"


async def session(
    url: str,
    cp: str,
    protocol: str,
    client_class: type,
    script: Callable[[Any], Awaitable[Any]],
    password: str = DEVICE_TOKEN,
) -> Any:
    """Connect as charge point `cp`, run `script(client)` while the client serves, return what
    the script returns."""
    async with connect(
        f"{url}/{cp}", subprotocols=[Subprotocol(protocol)], additional_headers=basic(cp, password)
    ) as ws:
        client = client_class(cp, ws)
        serving = asyncio.create_task(client.start())
        try:
            return await script(client)
        finally:
            serving.cancel()

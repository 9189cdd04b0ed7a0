"""Redis goes down under a connected charger: its MeterValues get no confirmation (a CALLERROR,
so the charger keeps the message), and the resend once Redis is back is stored once."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
from sqlalchemy import text
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.support.constants import DEVICE_TOKEN
from tests.support.helpers import listening, stored_readings, wait_until
from tools.local import free_port

AT = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
FRAME = orjson.dumps(
    [2, "m-1", "MeterValues",
     {"connectorId": 2, "meterValue": [{"timestamp": AT, "sampledValue": [{"value": "7000"}]}]}]
).decode()  # fmt: skip


def test_no_confirmation_while_redis_is_down_and_the_resend_is_stored_once(
    service, private_redis, clean_db
):
    port = free_port()
    service.env.update(REDIS_URL=private_redis.url, REDIS_TIMEOUT_SECONDS="1", OCPP_PORT=str(port))
    service.start("worker")
    service.start("ocpp")
    wait_until(lambda: listening(port), what="ocpp to listen")
    basic = base64.b64encode(f"CP9:{DEVICE_TOKEN}".encode()).decode()

    async def charger() -> list:
        answers = []
        async with connect(
            f"ws://127.0.0.1:{port}/ocpp/CP9",
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers={"Authorization": f"Basic {basic}"},
        ) as ws:
            private_redis.kill()
            await ws.send(FRAME)
            answers.append(orjson.loads(await asyncio.wait_for(ws.recv(), 30)))
            private_redis.start()
            for _ in range(20):  # the charger resends until it is confirmed
                await ws.send(FRAME)
                answers.append(orjson.loads(await asyncio.wait_for(ws.recv(), 30)))
                if answers[-1][0] == 3:
                    break
                await asyncio.sleep(0.5)
        return answers

    answers = asyncio.run(charger())
    assert answers[0][0] == 4
    assert answers[0][2] == "InternalError"
    assert answers[-1] == [3, "m-1", {}]
    wait_until(lambda: stored_readings(clean_db) == 1, 60, "the resend stored")
    with clean_db.connect() as conn:
        rows = conn.execute(text("SELECT meter_id, kwh_register_ac FROM meter_readings")).all()
    assert rows == [("CP9:2", Decimal(7))]

"""`python -m simulator --ocpp`: the fleet's meters as OCPP 1.6J chargers, each sending its
cumulative register (in Wh, as chargers do) in MeterValues over a WebSocket of its own; the
vehicles keep posting to /v1/ingest. Each meter is its charger's connector 0, so the vehicles'
readings name it unchanged."""

from __future__ import annotations

import asyncio
import base64
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import orjson
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from readings.records import Record, meter_register_record
from simulator.fleet import Reading

# Every meter's counter starts far from zero, as one in service would.
BASE_KWH = Decimal("48213.5")
_PLACES = Decimal("0.000001")


@dataclass
class Charged:
    confirmed: int = 0
    errors: list[str] = field(default_factory=list)


def registers(readings: list[Reading]) -> dict[tuple[str, str], Decimal]:
    """(meter, timestamp) -> the meter's register then: the sum of its energy up to that moment,
    in timestamp order whatever order the readings arrive in (a resend counts once)."""
    by_meter: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for r in readings:
        if r.kind == "meter":
            by_meter[r.device][r.at.isoformat()] = Decimal(repr(r.kwh)).quantize(
                _PLACES, ROUND_HALF_UP
            )
    out: dict[tuple[str, str], Decimal] = {}
    for meter, energies in by_meter.items():
        total = BASE_KWH
        for at in sorted(energies, key=datetime.fromisoformat):
            total += energies[at]
            out[(meter, at)] = total
    return out


def records(readings: list[Reading], held: dict[tuple[str, str], Decimal]) -> list[Record]:
    """The readings as the service will store them: meters' as register readings."""
    out = []
    for r in readings:
        if r.kind == "meter":
            register = held[(r.device, r.at.isoformat())]
            out.append(meter_register_record(r.device, r.at, f"{register:f}", r.voltage))
        else:
            out.append(r.record())
    return out


def send(
    url: str, token: str, readings: list[Reading], held: dict[tuple[str, str], Decimal]
) -> Charged:
    """Each meter's readings, in the order they arrive, as MeterValues on its own connection,
    with the registers `held` (registers() of the whole fleet's readings, earlier runs' too)."""
    by_meter: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        if r.kind == "meter":
            by_meter[r.device].append(r)
    charged = Charged()

    async def all_chargers() -> None:
        await asyncio.gather(
            *(_charger(url, token, meter, sent, held, charged) for meter, sent in by_meter.items())
        )

    asyncio.run(all_chargers())
    return charged


async def _charger(
    url: str,
    token: str,
    charge_point: str,
    readings: list[Reading],
    held: dict[tuple[str, str], Decimal],
    charged: Charged,
) -> None:
    basic = base64.b64encode(f"{charge_point}:{token}".encode()).decode()
    try:
        async with connect(
            f"{url}/{charge_point}",
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers={"Authorization": f"Basic {basic}"},
            compression=None,
        ) as ws:
            boot = {"chargePointVendor": "simulator", "chargePointModel": "fleet"}
            await ws.send(orjson.dumps([2, "boot", "BootNotification", boot]).decode())
            await ws.recv()
            for n, r in enumerate(readings):
                wh = held[(charge_point, r.at.isoformat())] * 1000
                samples = [
                    {"value": f"{wh:f}", "measurand": "Energy.Active.Import.Register"},
                    {"value": f"{r.voltage}", "measurand": "Voltage"},
                ]
                values = {
                    "connectorId": 0,
                    "meterValue": [{"timestamp": r.at.isoformat(), "sampledValue": samples}],
                }
                await ws.send(orjson.dumps([2, f"m{n}", "MeterValues", values]).decode())
                answer = orjson.loads(await ws.recv())
                if answer[0] == 3:
                    charged.confirmed += 1
                else:
                    charged.errors.append(f"{charge_point}: {answer[2:4]}")
    except OSError as exc:
        charged.errors.append(f"{charge_point}: {exc}")

"""Register readings against interval readings, side by side (docs/DESIGN.md, "Registers"): the
same fleet, its energy sent as each device's cumulative register instead of each interval's.

- `bodies`: the fleet's readings as register bodies, for the batched-ingest step through the
  whole service (web, stream, worker).
- `writer`: the history writer alone (readings/writer.py, in this process), the same readings
  as interval and as register batches, alternated, so that the cost of deriving intervals is
  seen without the web tier in front of it.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from bench.stack import Service
from readings.validation import ReadingValidator
from readings.writer import write_batch
from web.contract.responses import json_default

# Every device starts from a register far from zero, as a meter in service would.
BASE = Decimal("48213.5")
_INTERVAL_TO_REGISTER = {"kwhConsumedAc": "kwhRegisterAc", "kwhDeliveredDc": "kwhRegisterDc"}


def as_registers(minutes: list[list[dict]]) -> list[list[dict]]:
    """The readings with each interval replaced by the running register of its device."""
    held: dict[str, Decimal] = {}
    out = []
    for minute in minutes:
        converted = []
        for reading in minute:
            device = reading.get("vehicleId") or reading["meterId"]
            reading = dict(reading)
            for interval, register in _INTERVAL_TO_REGISTER.items():
                if interval in reading:
                    total = held.get(device, BASE) + Decimal(repr(reading.pop(interval)))
                    held[device] = total
                    reading[register] = total
            converted.append(reading)
        out.append(converted)
    return out


def bodies(minutes: list[list[dict]], size: int) -> list[bytes]:
    """JSON arrays of `size` register readings, the registers written digit for digit."""
    flat = [reading for minute in as_registers(minutes) for reading in minute]
    return [
        orjson.dumps(flat[i : i + size], default=json_default) for i in range(0, len(flat), size)
    ]


def writer(
    service: Service, minutes: list[list[dict]], batch: int, rounds: int = 3
) -> dict[str, Any]:
    """Readings/s the writer commits, interval batches against register batches of the same
    readings, each round starting from empty tables; medians of the rounds."""
    validator = ReadingValidator(service.settings(), clock=lambda: datetime.now(UTC))
    flat = [r for minute in minutes for r in minute]
    intervals, rejected = validator.validate(flat)
    registers, rejected_registers = validator.validate(
        [r for minute in as_registers(minutes) for r in minute]
    )
    if rejected or rejected_registers:
        raise ValueError(
            f"the fleet's readings were refused: {(rejected + rejected_registers)[:3]}"
        )
    rates: dict[str, list[float]] = {"interval": [], "register": []}
    for _ in range(rounds):
        for style, records in (("interval", intervals), ("register", registers)):
            rates[style].append(_write_all(service, records, batch))
    interval, register = (statistics.median(rates[s]) for s in ("interval", "register"))
    return {
        "readings": len(intervals),
        "batch": batch,
        "interval_per_s": interval,
        "register_per_s": register,
        "ratio": register / interval,
        "rounds": rates,
    }


def _write_all(service: Service, records: list[list[Any]], batch: int) -> float:
    service.reset()
    engine = service.engine()
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        with engine.begin() as conn:
            write_batch(conn, records[i : i + batch])
    return len(records) / (time.perf_counter() - started)

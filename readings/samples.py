"""What chargers measure besides energy (chargers/mapping.py says how a sampled value becomes
one): kept as sent per connector, phase and location, in the unit kept, exact; a resend is the
row already kept. Energy alone goes through the writer and feeds the efficiency rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

# The unit each measurand is kept in, as answers name it.
UNITS = {
    "Power.Active.Import": "kW",
    "Current.Import": "A",
    "Voltage": "V",
    "Frequency": "Hz",
    "SoC": "%",
    "Temperature": "Celsius",
}


@dataclass(frozen=True)
class Sample:
    """A measurand a charger sent besides energy, in the unit kept."""

    meter: str
    at: datetime
    measurand: str
    phase: str
    location: str
    context: str
    value: Decimal


def keep(conn: Connection, samples: Iterable[Sample]) -> int:
    """Keep samples in the caller's transaction; how many were new."""
    rows = [
        {
            "at": s.at,
            "meter": s.meter,
            "measurand": s.measurand,
            "phase": s.phase,
            "location": s.location,
            "context": s.context,
            "value": s.value,
        }
        for s in samples
    ]
    if not rows:
        return 0
    return conn.execute(
        text(
            "INSERT INTO charger_samples (at, meter_id, measurand, phase, location, context, "
            "value) VALUES (:at, :meter, :measurand, :phase, :location, :context, :value) "
            "ON CONFLICT DO NOTHING"
        ),
        rows,
    ).rowcount


def page(
    conn: Connection,
    meter_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: tuple[datetime, str, str, str] | None = None,
) -> list[dict[str, Any]]:
    """A meter's samples in [start, end), oldest first, after the key given, at most `limit`."""
    key = "AND (at, measurand, phase, location) > (:a, :m, :p, :l)" if after else ""
    a, m, p, loc = after or (None, None, None, None)
    rows = conn.execute(
        text(
            "SELECT at, measurand, phase, location, context, value FROM charger_samples "
            f"WHERE meter_id = :meter AND at >= :start AND at < :end {key} "
            "ORDER BY at, measurand, phase, location LIMIT :limit"
        ),
        {
            "meter": meter_id,
            "start": start,
            "end": end,
            "limit": limit,
            "a": a,
            "m": m,
            "p": p,
            "l": loc,
        },
    ).all()
    return [dict(row._mapping) for row in rows]

"""Chargers' signed meter values (1.6 `SignedData`, 2.0.1 `signedMeterValue`): kept byte for
byte with their context and transaction, and judged when read, against the key the meter has
then (a key configured after the values came verifies them too). A valid signature's reading is
held to what the same sample set said unsigned; an unverified payload says nothing
(readings/ocmf.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, text

from readings import ocmf


@dataclass(frozen=True)
class SignedValue:
    meter: str
    at: datetime
    context: str
    measurand: str
    transaction_id: str | None
    signed_data: str
    signing_method: str | None = None
    encoding_method: str | None = None
    public_key: str | None = None
    # The register the same sample set said unsigned, in kWh.
    unsigned_kwh: Decimal | None = None


def keep(conn: Connection, values: Iterable[SignedValue]) -> int:
    """Keep signed values in the caller's transaction; how many were new (a resend is not)."""
    rows = [
        {
            "meter": v.meter,
            "at": v.at,
            "context": v.context,
            "measurand": v.measurand,
            "transaction": v.transaction_id,
            "data": v.signed_data,
            "method": v.signing_method,
            "encoding": v.encoding_method,
            "key": v.public_key,
            "unsigned": v.unsigned_kwh,
            "digest": hashlib.sha256(v.signed_data.encode("utf-8")).digest(),
        }
        for v in values
    ]
    if not rows:
        return 0
    return conn.execute(
        text(
            "INSERT INTO charger_signed_values (meter_id, at, context, measurand, transaction_id, "
            "signed_data, signing_method, encoding_method, public_key, unsigned_kwh, digest) "
            "VALUES (:meter, :at, :context, :measurand, :transaction, :data, :method, :encoding, "
            ":key, :unsigned, :digest) ON CONFLICT DO NOTHING"
        ),
        rows,
    ).rowcount


_COLUMNS = (
    "meter_id, at, context, measurand, transaction_id, signed_data, signing_method, "
    "encoding_method, public_key, unsigned_kwh"
)


def of_transactions(
    conn: Connection, transactions: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The signed values of each (meter, transaction ID), oldest first."""
    wanted = sorted(set(transactions))
    if not wanted:
        return {}
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM charger_signed_values "
            "WHERE (meter_id, transaction_id) IN "
            "(SELECT * FROM unnest(CAST(:meters AS text[]), CAST(:ids AS text[]))) "
            "ORDER BY at, id"
        ),
        {"meters": [m for m, _ in wanted], "ids": [t for _, t in wanted]},
    ).all()
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault((row.meter_id, row.transaction_id), []).append(dict(row._mapping))
    return found


def page(
    conn: Connection,
    meter_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> list[dict[str, Any]]:
    """A meter's signed values in [start, end), oldest first, after the key given."""
    key = "AND (at, id) > (:a, :i)" if after else ""
    a, i = after or (None, None)
    rows = conn.execute(
        text(
            f"SELECT id, {_COLUMNS} FROM charger_signed_values "
            f"WHERE meter_id = :meter AND at >= :start AND at < :end {key} "
            "ORDER BY at, id LIMIT :limit"
        ),
        {"meter": meter_id, "start": start, "end": end, "limit": limit, "a": a, "i": i},
    ).all()
    return [dict(row._mapping) for row in rows]


def keys_for(conn: Connection, meters: Iterable[str]) -> dict[str, bytes]:
    """The public key each meter's values are verified against: its own, else its charger's
    (the ID before `:`)."""
    meters = set(meters)
    candidates = meters | {m.split(":", 1)[0] for m in meters}
    rows = conn.execute(
        text(
            "SELECT meter_id, public_key FROM meter_public_keys WHERE meter_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": sorted(candidates)},
    ).all()
    known = {row.meter_id: bytes(row.public_key) for row in rows}
    found = {}
    for meter in meters:
        key = known.get(meter, known.get(meter.split(":", 1)[0]))
        if key is not None:
            found[meter] = key
    return found


def set_key(conn: Connection, meter_id: str, public_key_der: bytes) -> None:
    conn.execute(
        text(
            "INSERT INTO meter_public_keys (meter_id, public_key) VALUES (:meter, :key) "
            "ON CONFLICT (meter_id) DO UPDATE SET public_key = :key, updated_at = now()"
        ),
        {"meter": meter_id, "key": public_key_der},
    )


def remove_key(conn: Connection, meter_id: str) -> bool:
    return bool(
        conn.execute(
            text("DELETE FROM meter_public_keys WHERE meter_id = :meter"), {"meter": meter_id}
        ).rowcount
    )


@dataclass(frozen=True)
class Judged:
    """A kept signed value and what its signature says."""

    row: Mapping[str, Any]
    verdict: ocmf.Verdict

    @property
    def signed_kwh(self) -> Decimal | None:
        return self.verdict.signed_kwh(self.row["context"]) if self.verdict.valid else None

    @property
    def matches_unsigned(self) -> bool | None:
        """False flags a valid signature whose reading is not what the charger said unsigned."""
        signed, unsigned = self.signed_kwh, self.row["unsigned_kwh"]
        if signed is None or unsigned is None:
            return None
        return bool(signed == unsigned)


def judge(rows: Iterable[Mapping[str, Any]], keys: Mapping[str, bytes]) -> list[Judged]:
    return [Judged(row, ocmf.verify(row["signed_data"], keys.get(row["meter_id"]))) for row in rows]

"""Chargers' transactions as OCPP reports them (docs/OCPP.md): who charged on which connector,
from when to when, and the register at either end. Every write is idempotent, as chargers
resend transaction messages until they are confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Stopped:
    connector_id: int


def start(
    conn: Connection,
    charge_point_id: str,
    connector_id: int,
    id_tag: str | None,
    started_at: datetime,
    meter_start_kwh: Decimal | None,
) -> int:
    """A 1.6 transaction's ID, the same for a resent StartTransaction. IDs come from the
    database's identity: unique across restarts and hosts."""
    return int(
        conn.execute(
            text(
                "INSERT INTO charging_transactions (charge_point_id, connector_id, protocol, "
                "id_tag, started_at, meter_start_kwh) "
                "VALUES (:cp, :connector, '1.6', :tag, :at, :kwh) "
                "ON CONFLICT (charge_point_id, connector_id, started_at) WHERE ref IS NULL "
                "DO UPDATE SET updated_at = now() RETURNING id"
            ),
            {
                "cp": charge_point_id,
                "connector": connector_id,
                "tag": id_tag,
                "at": started_at,
                "kwh": meter_start_kwh,
            },
        ).scalar_one()
    )


def stop(
    conn: Connection,
    charge_point_id: str,
    transaction_id: int,
    stopped_at: datetime,
    meter_stop_kwh: Decimal | None,
    reason: str | None,
) -> Stopped | None:
    """Mark a 1.6 transaction of this charger stopped; None if it has none of this ID."""
    row = conn.execute(
        text(
            "UPDATE charging_transactions SET stopped_at = :at, meter_stop_kwh = :kwh, "
            "stop_reason = :reason, updated_at = now() "
            "WHERE id = :id AND charge_point_id = :cp AND ref IS NULL RETURNING connector_id"
        ),
        {
            "id": transaction_id,
            "cp": charge_point_id,
            "at": stopped_at,
            "kwh": meter_stop_kwh,
            "reason": reason,
        },
    ).first()
    return Stopped(row.connector_id) if row else None


def connector_of_id(conn: Connection, charge_point_id: str, transaction_id: int) -> int | None:
    """The connector a 1.6 transaction of this charger runs on; None if it has none such."""
    return conn.execute(
        text(
            "SELECT connector_id FROM charging_transactions "
            "WHERE charge_point_id = :cp AND id = :id AND ref IS NULL"
        ),
        {"cp": charge_point_id, "id": transaction_id},
    ).scalar()


def connector_of(conn: Connection, charge_point_id: str, ref: str) -> int | None:
    """The EVSE a 2.0.1 transaction runs on, as its first event said."""
    return conn.execute(
        text(
            "SELECT connector_id FROM charging_transactions "
            "WHERE charge_point_id = :cp AND ref = :ref"
        ),
        {"cp": charge_point_id, "ref": ref},
    ).scalar()


def event(
    conn: Connection,
    charge_point_id: str,
    ref: str,
    evse_id: int,
    event_type: str,
    at: datetime,
    id_tag: str | None,
    register_kwh: Decimal | None,
    reason: str | None,
) -> None:
    """A 2.0.1 TransactionEvent: Started opens (or finds) the transaction, Ended closes it,
    Updated keeps what it learns (an ID token given late, say)."""
    started, ended = event_type == "Started", event_type == "Ended"
    conn.execute(
        text(
            "INSERT INTO charging_transactions (charge_point_id, connector_id, ref, protocol, "
            "id_tag, started_at, stopped_at, meter_start_kwh, meter_stop_kwh, stop_reason) "
            "VALUES (:cp, :evse, :ref, '2.0.1', :tag, :start, :stop, :kwh_start, :kwh_stop, "
            ":reason) "
            "ON CONFLICT (charge_point_id, ref) WHERE ref IS NOT NULL DO UPDATE SET "
            "id_tag = COALESCE(EXCLUDED.id_tag, charging_transactions.id_tag), "
            "started_at = COALESCE(EXCLUDED.started_at, charging_transactions.started_at), "
            "stopped_at = COALESCE(EXCLUDED.stopped_at, charging_transactions.stopped_at), "
            "meter_start_kwh = COALESCE(charging_transactions.meter_start_kwh, "
            "EXCLUDED.meter_start_kwh), "
            "meter_stop_kwh = COALESCE(EXCLUDED.meter_stop_kwh, "
            "charging_transactions.meter_stop_kwh), "
            "stop_reason = COALESCE(EXCLUDED.stop_reason, charging_transactions.stop_reason), "
            "updated_at = now()"
        ),
        {
            "cp": charge_point_id,
            "evse": evse_id,
            "ref": ref,
            "tag": id_tag,
            "start": at if started else None,
            "stop": at if ended else None,
            "kwh_start": register_kwh if started else None,
            "kwh_stop": register_kwh if ended else None,
            "reason": reason,
        },
    )


def listing(conn: Connection, charge_point_id: str) -> list[dict[str, object]]:
    """A charger's transactions, oldest first (for tests and operators)."""
    rows = conn.execute(
        text(
            "SELECT id, connector_id, ref, protocol, id_tag, started_at, stopped_at, "
            "meter_start_kwh, meter_stop_kwh, stop_reason FROM charging_transactions "
            "WHERE charge_point_id = :cp ORDER BY started_at NULLS LAST, id"
        ),
        {"cp": charge_point_id},
    )
    return [dict(row._mapping) for row in rows]

"""A device's charging sessions as the API pages them (models/efficiency/sessions.py builds
them): each with what it charged, as the refresh keeps it, and the OCPP transaction its charger
reported for it, if any. A meter's OCPP transactions that no vehicle's session overlaps are its
sessions too, without a vehicle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from models.efficiency.sessions import SUMS

# A meter's ID as its OCPP transactions name it: the charger's ID, with `:<connector>` past
# connector 0 (models/transactions.py).
_TRANSACTION_METER = (
    "t.charge_point_id || CASE WHEN t.connector_id = 0 THEN '' ELSE ':' || t.connector_id END"
)
_OF_METER = f"""t.charge_point_id IN ({{meter}}, regexp_replace({{meter}}, ':[0-9]+$', ''))
      AND {_TRANSACTION_METER} = {{meter}}"""

# What a stopped transaction's meter counted: by the register rule's resets and glitches
# (docs/DESIGN.md, "Registers") over its register readings from start to stop, pair by pair:
# a rise counts its difference, a drop is a reset that counts the new register, and a single low
# reading between two higher ones is a glitch, skipped. Unlike a minute's interval, a pair spans
# any gap: both ends belong to the transaction. Stop minus start would go negative across a reset.
_TRANSACTION_ENERGY = """(
    SELECT sum(CASE WHEN d.register >= d.before THEN d.register - d.before ELSE d.register END)
    FROM (
        SELECT g.register, lag(g.register) OVER (ORDER BY g.recorded_at) AS before
        FROM (
            SELECT r.recorded_at, r.kwh_register_ac AS register,
                   lag(r.kwh_register_ac) OVER w AS previous,
                   lead(r.kwh_register_ac) OVER w AS next
            FROM meter_readings r
            WHERE r.meter_id = {meter} AND r.kwh_register_ac IS NOT NULL
              AND r.recorded_at >= t.started_at AND r.recorded_at <= t.stopped_at
            WINDOW w AS (ORDER BY r.recorded_at)
        ) g
        WHERE NOT coalesce(g.register < g.previous AND g.next >= g.previous, false)
    ) d
    WHERE d.before IS NOT NULL AND t.stopped_at IS NOT NULL)"""
# Without its readings (none stored, or refused), the registers at either end, unless they fell.
_TRANSACTION_ENERGY = f"""coalesce({_TRANSACTION_ENERGY},
    CASE WHEN t.meter_stop_kwh >= t.meter_start_kwh
         THEN t.meter_stop_kwh - t.meter_start_kwh END)"""

# A page of one device's sessions starting in [start, end), after a (start, other id) position.
_VEHICLE_SESSIONS = f"""
SELECT s.vehicle_id, s.meter_id, s.start_at, s.end_at, s.start_soc_hundredths,
       s.end_soc_hundredths, {", ".join(f"s.{c}" for c in SUMS)},
       (SELECT sum(upper(r) - lower(r)) FROM unnest(s.seen_minutes) r) AS seen,
       t.transaction_id, t.id_tag, t.transaction_kwh
FROM charging_sessions s
LEFT JOIN LATERAL (
    -- The OCPP transaction of the session's meter it started in or that started within it.
    SELECT coalesce(t.ref, t.id::text) AS transaction_id, t.id_tag,
           {_TRANSACTION_ENERGY.format(meter="s.meter_id")} AS transaction_kwh
    FROM charging_transactions t
    WHERE {_OF_METER.format(meter="s.meter_id")}
      AND t.started_at <= s.end_at AND coalesce(t.stopped_at, 'infinity') >= s.start_at
    ORDER BY t.started_at DESC LIMIT 1
) t ON true
WHERE s.{{by}} = :device AND s.start_at >= :start AND s.start_at < :end
  AND (s.start_at, s.{{other}}) > (:after_at, :after_id)
"""
# A meter's OCPP transactions that no vehicle's session overlaps: a charger whose vehicles send
# no telemetry still shows its sessions, bounded by the transaction (to its meter's last reading
# while it runs), with the minutes its meter reported its register in (what OCPP meters send;
# their index keeps this a range read) and the energy the transaction's register counted. No
# minute is kept without a vehicle, so their AC and DC sums are empty.
_TRANSACTION_SESSIONS = f"""
SELECT NULL::text AS vehicle_id, CAST(:device AS text) AS meter_id, t.started_at AS start_at,
       e.end_at, NULL::int AS start_soc_hundredths, NULL::int AS end_soc_hundredths,
       NULL::numeric AS ac_kwh, NULL::numeric AS dc_kwh, 0 AS suspect_minutes, 0 AS minutes,
       (SELECT count(DISTINCT date_bin('1 minute', r.recorded_at, timestamptz 'epoch'))
        FROM meter_readings r
        WHERE r.meter_id = :device AND r.kwh_register_ac IS NOT NULL
          AND r.recorded_at >= t.started_at AND r.recorded_at <= e.end_at) AS seen,
       coalesce(t.ref, t.id::text) AS transaction_id, t.id_tag,
       {_TRANSACTION_ENERGY.format(meter=":device")} AS transaction_kwh
FROM charging_transactions t
CROSS JOIN LATERAL (
    SELECT coalesce(t.stopped_at, (
        SELECT max(r.recorded_at) FROM meter_readings r
        WHERE r.meter_id = :device AND r.kwh_register_ac IS NOT NULL
          AND r.recorded_at >= t.started_at), t.started_at) AS end_at
) e
WHERE {_OF_METER.format(meter=":device")}
  AND t.started_at >= :start AND t.started_at < :end
  AND (t.started_at, '') > (:after_at, :after_id)
  AND NOT EXISTS (
      SELECT FROM charging_sessions s
      WHERE s.meter_id = :device AND s.start_at <= e.end_at AND s.end_at >= t.started_at)
"""
_PAGE_OF_SESSIONS = "ORDER BY s.start_at, s.{other} LIMIT :limit"
_PAGE_OF_TRANSACTIONS = "ORDER BY t.started_at LIMIT :limit"
_PAGE_OF_BOTH = "ORDER BY p.start_at, coalesce(p.vehicle_id, '') LIMIT :limit"
# The least position: before every session.
FIRST = (datetime.fromisoformat("0001-01-01T00:00:00+00:00"), "")


def page(
    conn: Connection,
    by: str,
    device_id: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, str],
    limit: int | None,
) -> list[Any]:
    """The sessions of a vehicle (by="vehicle_id") or a meter (by="meter_id"), oldest first; a
    meter's include its OCPP transactions that no vehicle's session overlaps (vehicle None)."""
    other = "meter_id" if by == "vehicle_id" else "vehicle_id"
    query = f"{_VEHICLE_SESSIONS} {_PAGE_OF_SESSIONS}".format(by=by, other=other)
    if by == "meter_id":
        # Each part is cut to the page before the two are merged.
        transactions = f"{_TRANSACTION_SESSIONS} {_PAGE_OF_TRANSACTIONS}"
        query = f"SELECT * FROM (({query}) UNION ALL ({transactions})) p {_PAGE_OF_BOTH}"
    rows = conn.execute(
        text(query),
        {
            "device": device_id,
            "start": start,
            "end": end,
            "after_at": after[0],
            "after_id": after[1],
            "limit": limit,
        },
    ).all()
    return [row._mapping for row in rows]

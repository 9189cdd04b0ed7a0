"""Chargers' availability (docs/DESIGN.md, "Chargers: status, measurands, signed values, TLS"):
what a charger said about itself (every StatusNotification, per connector, at its own time) and
when it could be heard (its connections), and from both a connector's seconds up, faulted,
unavailable, offline and unknown over a window, with its outages.

A connector is offline while its charger is not connected (that wins over any status); else
faulted or unavailable by connector 0's status (the charger's own, which holds for all its
connectors) or its own; else up by its own last status; unknown before any status is known,
which the ratio leaves out of the window's seconds."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from devices import charger_ids

# The statuses that make a connector not up; every other one (1.6: Available, Preparing,
# Charging, SuspendedEV, SuspendedEVSE, Finishing, Reserved; 2.0.1: Available, Occupied,
# Reserved) leaves it up.
FAULTED, UNAVAILABLE = "Faulted", "Unavailable"
DOWN = {FAULTED: "faulted", UNAVAILABLE: "unavailable"}
KINDS = ("up", "faulted", "unavailable", "offline", "unknown")


def record_status(
    conn: Connection,
    meter_id: str,
    at: datetime,
    status: str,
    *,
    connector_id: int = 0,
    error_code: str | None = None,
    vendor_error_code: str | None = None,
    info: str | None = None,
) -> None:
    """Keep a StatusNotification; a resend (same meter, time, connector and status) is the one
    already kept."""
    conn.execute(
        text(
            "INSERT INTO charger_statuses (meter_id, at, connector_id, status, error_code, "
            "vendor_error_code, info) VALUES (:m, :at, :c, :s, :e, :v, :i) "
            "ON CONFLICT DO NOTHING"
        ),
        {
            "m": meter_id,
            "at": at,
            "c": connector_id,
            "s": status,
            "e": error_code,
            "v": vendor_error_code,
            "i": info,
        },
    )


def opened(conn: Connection, charge_point_id: str, at: datetime) -> None:
    """A charger's WebSocket opened at `at`."""
    conn.execute(
        text(
            "INSERT INTO charger_connections (charge_point_id, opened_at, last_seen, forwarded) "
            "VALUES (:cp, :at, :at, false) ON CONFLICT DO NOTHING"
        ),
        {"cp": charge_point_id, "at": at},
    )


def seen(conn: Connection, charge_point_id: str, opened_at: datetime, at: datetime) -> None:
    """The WebSocket opened at `opened_at` was heard from at `at`; with `closed`, that is how a
    connection whose process died unannounced is known to have ended."""
    conn.execute(
        text(
            "UPDATE charger_connections SET last_seen = greatest(last_seen, :at) "
            "WHERE charge_point_id = :cp AND opened_at = :opened"
        ),
        {"cp": charge_point_id, "opened": opened_at, "at": at},
    )


def closed(conn: Connection, charge_point_id: str, opened_at: datetime, at: datetime) -> None:
    conn.execute(
        text(
            "UPDATE charger_connections SET closed_at = :at, last_seen = greatest(last_seen, :at) "
            "WHERE charge_point_id = :cp AND opened_at = :opened"
        ),
        {"cp": charge_point_id, "opened": opened_at, "at": at},
    )


def heard_forwarded(
    conn: Connection, charge_point_id: str, at: datetime, silence: timedelta
) -> None:
    """A message of a charger whose central system forwards its frames: its run of messages goes
    on when the last one is within `silence`, else a new run starts at this one."""
    went_on = conn.execute(
        text(
            "UPDATE charger_connections SET last_seen = greatest(last_seen, :at) "
            "WHERE charge_point_id = :cp AND forwarded AND opened_at <= :at "
            "AND last_seen >= :at - :silence"
        ),
        {"cp": charge_point_id, "at": at, "silence": silence},
    ).rowcount
    if not went_on:
        conn.execute(
            text(
                "INSERT INTO charger_connections (charge_point_id, opened_at, last_seen, "
                "forwarded) VALUES (:cp, :at, :at, true) ON CONFLICT DO NOTHING"
            ),
            {"cp": charge_point_id, "at": at},
        )


@dataclass
class Outage:
    start: datetime
    end: datetime
    kind: str  # faulted, unavailable or offline
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
            "errorCode": self.error_code,
            "vendorErrorCode": self.vendor_error_code,
            "info": self.info,
        }


@dataclass
class Availability:
    meter_id: str
    start: datetime
    end: datetime
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    outages: list[Outage] = field(default_factory=list)
    # The meter's last status before the window's end.
    last: _Status | None = None

    @property
    def uptime_ratio(self) -> float | None:
        """Up seconds over the window's seconds whose state is known; None when none is."""
        known = sum(self.seconds.values()) - self.seconds["unknown"]
        return self.seconds["up"] / known if known else None


@dataclass(frozen=True)
class _Status:
    at: datetime
    status: str
    error_code: str | None
    vendor_error_code: str | None
    info: str | None


@dataclass(frozen=True)
class FleetNow:
    """What /metrics shows of the chargers now."""

    connectors_by_status: dict[str, int]
    chargers_connected: int
    chargers_offline_too_long: int
    connectors_down_too_long: int


def fleet_now(conn: Connection, silence: timedelta, too_long: timedelta) -> FleetNow:
    """Connectors (every meter but a charger's own) by their last status; chargers heard now;
    chargers not heard for longer than `too_long`; connectors (or chargers, by connector 0)
    whose last status has been Faulted or Unavailable for longer than that."""
    row = conn.execute(
        text(_FLEET_NOW), {"silence": silence, "too_long": too_long, "down": list(DOWN)}
    ).one()
    return FleetNow(dict(row.by_status or {}), row.connected, row.offline, row.down)


_FLEET_NOW = """
WITH last_status AS (
    SELECT DISTINCT ON (meter_id) meter_id, status, at
    FROM charger_statuses ORDER BY meter_id, at DESC, received_at DESC
), heard AS (
    SELECT charge_point_id,
           max(least(coalesce(closed_at, 'infinity'), last_seen + :silence)) AS until
    FROM charger_connections GROUP BY charge_point_id
)
SELECT
    (SELECT jsonb_object_agg(status, n) FROM (
        SELECT status, count(*) AS n FROM last_status WHERE meter_id LIKE '%:%' GROUP BY status
    ) s) AS by_status,
    (SELECT count(*) FROM heard WHERE until > now()) AS connected,
    (SELECT count(*) FROM heard WHERE until < now() - :too_long) AS offline,
    (SELECT count(*) FROM last_status
     WHERE status = ANY(:down) AND at < now() - :too_long) AS down
"""


def known(conn: Connection, meter_id: str) -> bool:
    """Whether this meter's charger ever said a status or was ever heard from."""
    charger = charger_ids.namespace_of(meter_id) or meter_id
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM charger_statuses WHERE meter_id IN (:m, :cp)) "
                "OR EXISTS (SELECT 1 FROM charger_connections WHERE charge_point_id = :cp)"
            ),
            {"m": meter_id, "cp": charger},
        ).scalar_one()
    )


def availability(
    conn: Connection,
    meter_id: str,
    start: datetime,
    end: datetime,
    silence: timedelta,
    now: datetime,
) -> Availability:
    """The meter's (a connector's, or `<chargePointId>` for the charger's own) availability over
    [start, end). Seconds past `now` are unknown; a connection is heard until it closed, or
    `silence` after its last message."""
    charger = charger_ids.namespace_of(meter_id) or meter_id
    own = _statuses(conn, meter_id, start, end)
    whole = _statuses(conn, charger, start, end) if charger != meter_id else own
    heard = _connections(conn, charger, start, end, silence, now)
    return _made(meter_id, start, end, own, whole, heard, now)


def fleet(
    conn: Connection, start: datetime, end: datetime, silence: timedelta, now: datetime
) -> list[Availability]:
    """Every connector's (every meter with a status, but chargers' own) availability over
    [start, end), read in two queries: the chargers' listing."""
    statuses: dict[str, list[_Status]] = {}
    for row in conn.execute(text(_ALL_STATUSES), {"start": start, "end": end}):
        statuses.setdefault(row.meter_id, []).append(_status(row))
    heard: dict[str, list[tuple[datetime, datetime]]] = {}
    for row in conn.execute(
        text(_CONNECTIONS.format(charger="")),
        {"start": start, "end": end, "silence": silence, "now": now},
    ):
        heard.setdefault(row.charge_point_id, []).append((row.opened_at, row.ended))
    found = []
    for meter_id, own in statuses.items():
        charger = charger_ids.namespace_of(meter_id)
        if charger is None or charger == meter_id:
            continue
        whole = statuses.get(charger, [])
        found.append(_made(meter_id, start, end, own, whole, heard.get(charger, []), now))
    return found


def _made(
    meter_id: str,
    start: datetime,
    end: datetime,
    own: list[_Status],
    whole: list[_Status],
    heard: list[tuple[datetime, datetime]],
    now: datetime,
) -> Availability:
    cuts = {start, end, min(max(now, start), end)}
    cuts |= {s.at for s in (*own, *whole) if start < s.at < end}
    cuts |= {moment for period in heard for moment in period if start < moment < end}
    result = Availability(meter_id, start, end, last=own[-1] if own else None)
    for begin, finish in itertools.pairwise(sorted(cuts)):
        state, said = _state(begin, own, whole, heard, now)
        result.seconds[state] += (finish - begin).total_seconds()
        if state in ("up", "unknown"):
            continue
        outage = Outage(begin, finish, state, *(_codes(said) if said else (None, None, None)))
        last = result.outages[-1] if result.outages else None
        if last and last.end == begin and (last.kind, *_codes(last)) == (state, *_codes(outage)):
            last.end = finish
        else:
            result.outages.append(outage)
    return result


def _codes(said: _Status | Outage) -> tuple[str | None, str | None, str | None]:
    return said.error_code, said.vendor_error_code, said.info


def _state(
    moment: datetime,
    own: list[_Status],
    whole: list[_Status],
    heard: list[tuple[datetime, datetime]],
    now: datetime,
) -> tuple[str, _Status | None]:
    if moment >= now:
        return "unknown", None
    if not any(opened <= moment < ended for opened, ended in heard):
        return "offline", None
    charger = _last(whole, moment)
    if charger is not None and charger.status in DOWN:
        return DOWN[charger.status], charger
    status = _last(own, moment)
    if status is None:
        return "unknown", None
    return DOWN.get(status.status, "up"), status


def _last(statuses: list[_Status], moment: datetime) -> _Status | None:
    found = None
    for status in statuses:
        if status.at > moment:
            break
        found = status
    return found


def _statuses(conn: Connection, meter_id: str, start: datetime, end: datetime) -> list[_Status]:
    """The meter's last status before the window and every one within it, in time order (two at
    one moment: in the order they arrived)."""
    rows = conn.execute(text(_STATUSES), {"m": meter_id, "start": start, "end": end}).all()
    return [_status(row) for row in rows]


def _status(row: Any) -> _Status:
    return _Status(row.at, row.status, row.error_code, row.vendor_error_code, row.info)


_COLUMNS = "meter_id, at, status, error_code, vendor_error_code, info, received_at"
_STATUSES = f"""
(SELECT {_COLUMNS} FROM charger_statuses WHERE meter_id = :m AND at < :start
 ORDER BY at DESC, received_at DESC LIMIT 1)
UNION ALL
(SELECT {_COLUMNS} FROM charger_statuses WHERE meter_id = :m AND at >= :start AND at < :end)
ORDER BY at, received_at
"""
# Every meter's: the last before the window, and those within it.
_ALL_STATUSES = f"""
(SELECT DISTINCT ON (meter_id) {_COLUMNS} FROM charger_statuses WHERE at < :start
 ORDER BY meter_id, at DESC, received_at DESC)
UNION ALL
(SELECT {_COLUMNS} FROM charger_statuses WHERE at >= :start AND at < :end)
ORDER BY meter_id, at, received_at
"""


def _connections(
    conn: Connection,
    charge_point_id: str,
    start: datetime,
    end: datetime,
    silence: timedelta,
    now: datetime,
) -> list[tuple[datetime, datetime]]:
    rows = conn.execute(
        text(_CONNECTIONS.format(charger="AND charge_point_id = :cp")),
        {"cp": charge_point_id, "start": start, "end": end, "silence": silence, "now": now},
    ).all()
    return [(row.opened_at, row.ended) for row in rows]


# When each connection overlapping the window could be heard: until it closed, `silence` after
# its last message, or now.
_HEARD_UNTIL = "least(coalesce(closed_at, 'infinity'), last_seen + :silence, :now)"
_CONNECTIONS = f"""
SELECT charge_point_id, opened_at, {_HEARD_UNTIL} AS ended FROM charger_connections
WHERE opened_at < :end AND {_HEARD_UNTIL} > :start {{charger}}
"""

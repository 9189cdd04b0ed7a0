"""A charger's ID and its namespace (docs/DESIGN.md, "IDs"; docs/OCPP.md).

Each connector (1.6) or EVSE (2.0.1) of a charger is a meter: `<id>` for connector 0, the whole
charger, and `<id>:<n>` for the others. Those meter IDs are the charger's alone: its token writes
them, so no other device may hold one, nor may a charger be added over devices that already do.
A charger's ID leaves room for its longest suffix within the 64 characters of a meter ID, and has
no ':', which would end the user part of its HTTP Basic credentials (RFC 7617) and blur where its
namespace ends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Connection, text

from models.kinds import CHARGER

# Connectors and EVSEs are numbered 0 .. MAX_CONNECTOR: more than any charger has.
MAX_CONNECTOR = 999
MAX_LENGTH = 64 - len(f":{MAX_CONNECTOR}")
_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_LENGTH}}}")
RULE = (
    f"1 to {MAX_LENGTH} characters: letters, digits, '.', '_' or '-' (no ':', so that its "
    f"connectors' meters <id>:1 .. <id>:{MAX_CONNECTOR} are meter IDs too)"
)
# An ID in some charger's namespace: `<charger>` or `<charger>:<digits>`.
_IN_NAMESPACE = re.compile(r"([^:]+)(?::[0-9]+)?")


def problem(charge_point_id: str) -> str | None:
    """Why this cannot be a charger's ID, or None when it can."""
    if _ID.fullmatch(charge_point_id):
        return None
    return f"a charger id must be {RULE}"


def namespace_of(device_id: str) -> str | None:
    """The charger whose namespace would hold this ID: the ID itself when it has no ':', the
    part before `:<digits>`, else none."""
    found = _IN_NAMESPACE.fullmatch(device_id)
    return found[1] if found else None


# Live devices that new ones could overlap: the chargers whose namespaces the new IDs fall in,
# the devices in the new chargers' namespaces, and the new devices themselves if already live.
_LIVE_NEIGHBOURS = """
SELECT device_kind, device_id FROM device_credentials
WHERE revoked_at IS NULL AND (
    (device_kind = 'charger' AND device_id = ANY(CAST(:owners AS text[])))
    OR substring(device_id from '^([^:]+)(?::[0-9]+)?$') = ANY(CAST(:chargers AS text[]))
    OR (device_kind, device_id) IN (
        SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:ids AS text[]))))
"""
# Held by a transaction that adds devices, so that two adding at once see each other's.
_ADDING = 0x65765F6E73  # "ev_ns"

Device = tuple[str, str]  # kind, id


def overlaps(conn: Connection, devices: Sequence[Device]) -> list[str]:
    """What would share a charger's namespace if these devices were added (those already live
    are not new): a device whose ID is a live charger's `<id>` or `<id>:<n>`, or a charger whose
    namespace holds a live device, the devices given counting as live. Empty: none."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADDING})
    rows = conn.execute(
        text(_LIVE_NEIGHBOURS),
        {
            "owners": sorted({o for o in (namespace_of(i) for _, i in devices) if o}),
            "chargers": sorted({i for k, i in devices if k == CHARGER}),
            "kinds": [k for k, _ in devices],
            "ids": [i for _, i in devices],
        },
    ).all()
    live = {(kind, device_id) for kind, device_id in rows}
    new = [d for d in devices if d not in live]
    everyone = sorted(live | set(new))
    chargers = {i for k, i in everyone if k == CHARGER}
    found: dict[str, None] = {}
    for kind, device_id in new:
        owner = namespace_of(device_id)
        if owner in chargers and (kind, device_id) != (CHARGER, owner):
            found[
                f"{kind} {device_id} is in charger {owner}'s namespace "
                f"({owner} and {owner}:<connector> are its meters)"
            ] = None
        if kind == CHARGER:
            for other_kind, other_id in everyone:
                if (other_kind, other_id) != (kind, device_id) and (
                    namespace_of(other_id) == device_id
                ):
                    found[f"charger {device_id} would cover {other_kind} {other_id}"] = None
    return list(found)

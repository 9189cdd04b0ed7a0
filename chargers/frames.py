"""What a charger's text frame is, before any handler sees it: a CALL to answer, an answer that
nobody asked for, or something that is not an OCPP-J frame at all.

We never send a charger a CALL (docs/OCPP.md), so every CALLRESULT or CALLERROR a charger sends
is unsolicited: it is dropped at once, never queued for a call that will not come (the `ocpp`
package queues them, and a charger could fill the process's memory that way). Anything that is
not a well-formed CALL is answered with a CALLERROR on the same connection, never a dropped socket
or a 5xx: its unique ID when one can be read, else "-1".

A frame is parsed with its numbers as exact decimals: 2.0.1 sends meter values as JSON numbers,
and a register must never pass through a float (docs/DESIGN.md, "Registers").
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

# OCPP-J says 36 characters (a UUID); some chargers send a little more, none needs more than this.
MAX_UNIQUE_ID = 64
# The unique ID answered when a frame's own cannot be read (OCPP 2.0.1, part 4, 4.2.3).
UNKNOWN_ID = "-1"
ACTIONS = {
    "1.6": frozenset(a.value for a in Action16),
    "2.0.1": frozenset(a.value for a in Action201),
}


class NotAFrame(OCPPError):
    """Not an OCPP-J CALL that can be routed. Its code is the version's own: 1.6 calls a frame it
    cannot read a FormationViolation, 2.0.1 an RpcFrameworkError."""

    def __init__(self, unique_id: str, description: str, version: str) -> None:
        super().__init__(description=description)
        self.unique_id = unique_id
        self.code = "FormationViolation" if version == "1.6" else "RpcFrameworkError"


def read(raw: str | bytes, version: str) -> Call | None:
    """The CALL a frame carries; None for an answer nobody asked for (to drop); NotAFrame for
    anything else, saying why."""
    try:
        frame = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to be OCPP
        raise NotAFrame(
            UNKNOWN_ID, "The frame is not JSON (or is nested too deep).", version
        ) from None
    if not (isinstance(frame, list) and frame):
        raise NotAFrame(UNKNOWN_ID, "An OCPP-J frame is a JSON array.", version)
    kind = frame[0]
    unique_id = _unique_id(frame)
    if kind in (MessageType.CallResult, MessageType.CallError) and type(kind) is int:
        return None
    if kind != MessageType.Call or type(kind) is not int:
        raise NotAFrame(
            unique_id or UNKNOWN_ID,
            "The message type is none of 2 (CALL), 3 (CALLRESULT), 4 (CALLERROR).",
            version,
        )
    if unique_id is None:
        raise NotAFrame(
            UNKNOWN_ID,
            f"The unique ID must be a string of 1 to {MAX_UNIQUE_ID} characters.",
            version,
        )
    if len(frame) != 4 or not isinstance(frame[2], str) or not isinstance(frame[3], dict):
        raise NotAFrame(
            unique_id,
            'A CALL is [2, "<uniqueId>", "<Action>", {<payload>}]: four elements, the action a '
            "string, the payload an object.",
            version,
        )
    return Call(unique_id, frame[2], frame[3])


def _unique_id(frame: list[Any]) -> str | None:
    found = frame[1] if len(frame) > 1 else None
    if isinstance(found, str) and 0 < len(found) <= MAX_UNIQUE_ID:
        return found
    return None


def action_label(action: Any, version: str) -> str:
    """An action as a metric's label or a log's value: one of the version's actions, else
    "unknown", so that a charger's made-up names cannot grow either without bound."""
    return action if isinstance(action, str) and action in ACTIONS[version] else "unknown"

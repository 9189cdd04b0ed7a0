"""Readings carrying fields this version does not know (docs/DESIGN.md, "How the contract
grows").

By default a reading with an unknown field is rejected, as the contract says: a misspelt field
never passes unnoticed. A device whose firmware is newer than the service it talks to sends
`Unknown-Fields: ignore`: the fields no kind of reading has are then dropped before validation,
counted (`ev_ingest_fields_ignored_total`) and named in the answer, and the reading is judged on
the fields this version knows, so new firmware loses no reading to an older service.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import metrics
from readings.validation import FIELDS

HEADER = "Unknown-Fields"
IGNORE, REJECT = "ignore", "reject"
# What any kind of reading may carry: a field another kind has is not unknown (it stays an error).
_KNOWN = FIELDS - {"_record"}
# Names reported back, at most, each cut to the longest ID.
_MOST_NAMED, _LONGEST_NAME = 10, 64


def policy(value: str | None) -> str | None:
    """The policy a header asks for, None when it names none we know."""
    asked = (value or REJECT).strip().lower()
    return asked if asked in (IGNORE, REJECT) else None


def strip(items: list[Any]) -> tuple[list[Any], dict[str, Any] | None]:
    """The readings without their unknown fields, and what was dropped (None: nothing)."""
    dropped: Counter[str] = Counter()
    kept = []
    for item in items:
        if isinstance(item, dict) and not item.keys() <= _KNOWN:
            unknown = [name for name in item if name not in _KNOWN]
            dropped.update(unknown)
            item = {name: value for name, value in item.items() if name in _KNOWN}
        kept.append(item)
    if not dropped:
        return kept, None
    metrics.FIELDS_IGNORED.inc(sum(dropped.values()))
    names = sorted(dropped)
    return kept, {
        "count": sum(dropped.values()),
        "names": [str(name)[:_LONGEST_NAME] for name in names[:_MOST_NAMED]],
    }

"""What the simulator already sent to a service, so that a rerun never counts a minute twice.

The fleet is deterministic for its spec (simulator/fleet.py): run again with the same spec, it
is generated again from the first run's start, so every minute the runs share holds the same
readings (a resend, stored once), and only the minutes after the last run are sent. With another
spec (other sizes, seed or mode) the fleet is another one whose device IDs would overlap the
first's: it starts where the last run ended, never in minutes already sent. Kept per service in
DATA_DIR; a run older than CONTINUE_FOR is not continued (regenerating it would take long).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

CONTINUE_FOR = timedelta(days=2)


@dataclass(frozen=True)
class Plan:
    """The fleet's start, and the first of its minutes this run sends."""

    start: datetime
    first_new_minute: int
    continued: bool


@dataclass(frozen=True)
class Sent:
    spec: str
    start: datetime
    end: datetime

    def plan(self, spec: str, start: datetime, until: datetime) -> Plan:
        if spec == self.spec and until - self.start <= CONTINUE_FOR and until >= self.end:
            return Plan(self.start, _minutes(self.end - self.start), True)
        return Plan(max(start, self.end), 0, False)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def _path(data_dir: str, target: str) -> Path:
    digest = hashlib.sha256(target.encode()).hexdigest()[:16]
    return Path(data_dir) / "simulator" / f"sent-{digest}.json"


def load(data_dir: str, target: str) -> Sent | None:
    try:
        raw: dict[str, Any] = orjson.loads(_path(data_dir, target).read_bytes())
        return Sent(
            raw["spec"], datetime.fromisoformat(raw["start"]), datetime.fromisoformat(raw["end"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(data_dir: str, target: str, sent: Sent) -> None:
    path = _path(data_dir, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"spec": sent.spec, "start": sent.start.isoformat(), "end": sent.end.isoformat()}
    path.write_bytes(orjson.dumps(body))

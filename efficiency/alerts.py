"""Chargers whose last sessions all charged under the alert threshold: a failing rectifier or
cable shows as one charger, whatever vehicles it served (docs/DESIGN.md, "Sessions").

A periodic job (workers/tasks.py) judges every charger and keeps the failing ones in
failing_chargers, which /metrics counts and `flask --app web chargers failing` lists: judging
reads each charger's last sessions with their figures, too much work for every scrape.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

# A session's efficiency is its vehicle's kept minutes on the charger within it, as the refresh
# keeps them summed (sessions.py); a session with no kept minute has none and breaks the run.
_JUDGE = """
DELETE FROM failing_chargers;
WITH judged AS (
    SELECT meter_id, end_at, ac_kwh AS ac, dc_kwh AS dc,
           row_number() OVER (PARTITION BY meter_id ORDER BY start_at DESC) AS n
    FROM charging_sessions
)
INSERT INTO failing_chargers (meter_id, efficiencies, last_session_end, checked_at)
SELECT meter_id, array_agg(dc / nullif(ac, 0) ORDER BY n), max(end_at), now()
FROM judged WHERE n <= :sessions GROUP BY meter_id
HAVING count(*) = :sessions AND bool_and(coalesce(dc / nullif(ac, 0) < :below, false))
"""


def judge(conn: Connection, below: float, sessions: int) -> int:
    """Replace failing_chargers with the chargers whose last `sessions` sessions each charged at
    an efficiency under `below`; returns how many."""
    params = {"below": Decimal(str(below)), "sessions": sessions}
    for statement in _JUDGE.split(";"):
        if statement.strip():
            conn.execute(text(statement), params)
    return int(conn.execute(text("SELECT count(*) FROM failing_chargers")).scalar_one())


def failing(conn: Connection) -> list[Any]:
    """The failing chargers, worst last session first."""
    rows = conn.execute(
        text("SELECT * FROM failing_chargers ORDER BY efficiencies[1], meter_id")
    ).all()
    return [row._mapping for row in rows]

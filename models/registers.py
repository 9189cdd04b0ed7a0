"""docs/DESIGN.md's register rule in SQL: a register reading's interval energy, derived from its
device's neighbouring readings as the writer stores a batch (models/history.py).

A reading's interval depends on the two readings before it and the one after it (a low reading
is a glitch or a reset according to its successor), so a reading that arrives changes at most
its predecessor's interval and its two successors'. For each device with register readings in
the batch, the writer reads that device's register readings around them (through the index of
register readings by device: never other devices' history), works the intervals out with
window functions, and writes back only those that changed, marking their minutes for the
refresh. The batch holds the devices' current-state row locks meanwhile (the writer upserts
current state first), so two consumers never derive one device's intervals at once: whatever
order readings arrive in, the stored intervals are the ones the readings in timestamp order
give.

Rules, for a register reading r at t with predecessors r1 at t1 and r2 at t2, and successor rn
at tn (each a neighbour only within the gap limit):
- no predecessor within the gap: unknown (a first reading, after a long gap);
- r < r1 and rn >= r1: a glitch, unknown;
- r1 < r2 and r >= r2 (the predecessor was a glitch): r - r2, unknown past the gap from t2;
- r < r1 otherwise: a reset, r itself;
- else r - r1;
and an interval over MAX_KWH_PER_READING is unknown. A successor later than the gap limit does
not make a low reading a glitch: its own interval is unknown anyway (docs/DESIGN.md, "Registers").
"""

from __future__ import annotations

from dataclasses import dataclass

from models.efficiency.formula import minute_of
from models.kinds import Kind
from settings import Settings


@dataclass(frozen=True)
class RegisterRule:
    gap_seconds: float = Settings.register_max_gap_seconds
    max_kwh: float = Settings.max_kwh_per_reading

    @classmethod
    def of(cls, settings: Settings) -> RegisterRule:
        return cls(settings.register_max_gap_seconds, settings.max_kwh_per_reading)

    def params(self) -> dict[str, float]:
        return {"gap": self.gap_seconds, "max_kwh": self.max_kwh}


_GAP = "make_interval(secs => %(gap)s)"


def derived_table(kind: Kind) -> str:
    return f"derived_{kind.history_table}"


def create_sql(kind: Kind) -> str:
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {derived_table(kind)} "
        "(device text, recorded_at timestamptz, interval numeric) ON COMMIT DELETE ROWS;"
    )


def derive_sql(kind: Kind, staging: str) -> str:
    """The intervals of the staged devices' register readings whose neighbourhood the batch
    touches, into derived_table(kind). psycopg2 parameters: RegisterRule.params()."""
    assert kind.register is not None
    device, register, table = kind.id_column, kind.register.column, kind.history_table
    return f"""
INSERT INTO {derived_table(kind)} (device, recorded_at, interval)
WITH touched AS (
    SELECT {device} AS device, min(recorded_at) AS first, max(recorded_at) AS last
    FROM {staging} WHERE {register} IS NOT NULL GROUP BY {device}
), nearby AS (
    -- Of two readings with one identity history keeps the least register (models/kinds.py).
    SELECT device, recorded_at, min(r) AS r FROM (
        SELECT t.device, h.recorded_at, h.r FROM touched t CROSS JOIN LATERAL (
            SELECT recorded_at, {register} AS r FROM {table}
            WHERE {device} = t.device AND {register} IS NOT NULL
              AND recorded_at >= t.first - 3 * {_GAP} AND recorded_at <= t.last + 3 * {_GAP}
        ) h
        UNION ALL
        SELECT {device}, recorded_at, {register} FROM {staging} WHERE {register} IS NOT NULL
    ) readings GROUP BY device, recorded_at
), neighbours AS (
    SELECT device, recorded_at AS t, r,
           lag(r) OVER w AS r1, lag(recorded_at) OVER w AS t1,
           lag(r, 2) OVER w AS r2, lag(recorded_at, 2) OVER w AS t2,
           lead(r) OVER w AS rn, lead(recorded_at) OVER w AS tn
    FROM nearby WINDOW w AS (PARTITION BY device ORDER BY recorded_at)
), derived AS (
    SELECT n.device, n.t, CASE
        WHEN n.t1 IS NULL OR n.t - n.t1 > {_GAP} THEN NULL
        WHEN n.r < n.r1 AND n.tn - n.t <= {_GAP} AND n.rn >= n.r1 THEN NULL
        WHEN n.r1 < n.r2 AND n.t1 - n.t2 <= {_GAP} AND n.r >= n.r2
            THEN CASE WHEN n.t - n.t2 <= {_GAP} THEN n.r - n.r2 END
        WHEN n.r < n.r1 THEN n.r
        ELSE n.r - n.r1
    END AS interval
    FROM neighbours n JOIN touched t USING (device)
    -- The readings whose interval the batch can change, each with all it depends on in view.
    WHERE n.t >= t.first - {_GAP} AND n.t <= t.last + 2 * {_GAP}
)
SELECT device, t, CASE WHEN interval <= %(max_kwh)s THEN interval END FROM derived
"""


def apply_sql(kind: Kind, staging: str) -> tuple[str, str, str]:
    """SQL setting the derived intervals on the staged readings, on stored ones whose interval
    changed (marking their minutes for the refresh), and on current state."""
    assert kind.register is not None
    assert kind.interval is not None
    device, register = kind.id_column, kind.register.column
    staged_interval, interval = kind.interval.name, kind.interval.column
    derived = derived_table(kind)
    staged = (
        f"UPDATE {staging} s SET {staged_interval} = d.interval FROM {derived} d "
        f"WHERE s.{device} = d.device AND s.recorded_at = d.recorded_at "
        f"AND s.{register} IS NOT NULL"
    )
    stored = (
        f"WITH changed AS (UPDATE {kind.history_table} h SET {interval} = d.interval "
        f"FROM {derived} d WHERE h.{device} = d.device AND h.recorded_at = d.recorded_at "
        f"AND h.{register} IS NOT NULL AND h.{interval} IS DISTINCT FROM d.interval "
        "RETURNING h.recorded_at) "
        f"INSERT INTO dirty_minutes (minute) SELECT DISTINCT {minute_of('recorded_at')} "
        "FROM changed"
    )
    current = (
        f"UPDATE {kind.current_table} c SET {interval} = d.interval FROM {derived} d "
        f"WHERE c.{device} = d.device AND c.recorded_at = d.recorded_at "
        f"AND c.{register} IS NOT NULL AND c.{interval} IS DISTINCT FROM d.interval"
    )
    return staged, stored, current

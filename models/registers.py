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
give. Most readings arrive in order, and then no stored reading changes: only the few that do
are written again.

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
        "(device text, recorded_at timestamptz, interval numeric, staged boolean) "
        "ON COMMIT DELETE ROWS;"
    )


def derive_sql(kind: Kind, staging: str) -> str:
    """The intervals of the staged devices' register readings whose neighbourhood the batch
    touches, into derived_table(kind). psycopg2 parameters: RegisterRule.params()."""
    assert kind.register is not None
    assert kind.interval is not None
    device, register, table = kind.id_column, kind.register.column, kind.history_table
    interval = kind.interval.column
    return f"""
INSERT INTO {derived_table(kind)} (device, recorded_at, interval, staged)
WITH touched AS (
    SELECT {device} AS device, min(recorded_at) AS first, max(recorded_at) AS last
    FROM {staging} WHERE {register} IS NOT NULL GROUP BY {device}
), nearby AS (
    -- Of two readings with one identity history keeps the least register (models/kinds.py).
    -- Sorted once: the window below reads them in this order.
    -- A stored reading of equal register comes first: its interval is updated in place.
    SELECT DISTINCT ON (device, recorded_at) device, recorded_at, r, old, staged FROM (
        SELECT t.device, h.recorded_at, h.r, h.old, false AS staged
        FROM touched t CROSS JOIN LATERAL (
            SELECT recorded_at, {register} AS r, {interval} AS old FROM {table}
            WHERE {device} = t.device AND {register} IS NOT NULL
              AND recorded_at >= t.first - 3 * {_GAP} AND recorded_at <= t.last + 3 * {_GAP}
            -- Kept a subquery (the planner would join it by scanning the whole day instead):
            -- a probe of the index of register readings per device.
            OFFSET 0
        ) h
        UNION ALL
        SELECT {device}, recorded_at, {register}, NULL, true FROM {staging}
        WHERE {register} IS NOT NULL
    ) readings ORDER BY device, recorded_at, r, staged
), neighbours AS (
    SELECT device, recorded_at AS t, r, old, staged,
           lag(r) OVER w AS r1, lag(recorded_at) OVER w AS t1,
           lag(r, 2) OVER w AS r2, lag(recorded_at, 2) OVER w AS t2,
           lead(r) OVER w AS rn, lead(recorded_at) OVER w AS tn
    FROM nearby WINDOW w AS (PARTITION BY device ORDER BY recorded_at)
), derived AS (
    SELECT n.device, n.t, n.old, n.staged, CASE
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
SELECT device, t, kept, staged FROM derived
CROSS JOIN LATERAL (SELECT CASE WHEN interval <= %(max_kwh)s THEN interval END AS kept) k
-- The staged readings, and the stored ones whose interval changes.
WHERE staged OR kept IS DISTINCT FROM old
"""


def apply_sql(kind: Kind, staging: str) -> tuple[str, str]:
    """SQL setting the derived intervals on the staged readings, and on stored ones whose
    interval changed (marking their minutes for the refresh). Current state keeps a register
    reading as sent: its interval is read from history (models/current_state.py)."""
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
    # By the primary key, a probe per derived reading: joined any other way, the planner may
    # scan the day's history (it cannot know that the derived readings are few).
    stored = (
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
        f"WITH changed AS (UPDATE {kind.history_table} h SET {interval} = d.interval "
        f"FROM {derived} d WHERE NOT d.staged AND h.{device} = d.device "
        f"AND h.recorded_at = d.recorded_at AND h.{register} IS NOT NULL "
        "RETURNING h.recorded_at) "
        f"INSERT INTO dirty_minutes (minute) SELECT DISTINCT {minute_of('recorded_at')} "
        "FROM changed; "
        "SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on"
    )
    return staged, stored

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


def _fast(kind: Kind, staging: str) -> str:
    """SQL: the staged devices whose neighbours current state holds. After the batch's upsert,
    a device that sent exactly one reading, a register reading, which is now its newest, has
    in `prior_*` and `prior2_*` the two register readings before it (the upsert moved them
    there): all its interval and its predecessor's glitch test need. The rest (late readings,
    several at once, a new device) read their neighbours from history."""
    assert kind.register is not None
    device, register, current = kind.id_column, kind.register.column, kind.current_table
    return f"""
    SELECT s.{device} AS device, min(s.recorded_at) AS first, max(s.recorded_at) AS last,
           coalesce(count(*) = 1 AND bool_and(
               c.recorded_at = s.recorded_at AND c.{register} = s.{register}
               AND c.prior_register IS NOT NULL), false) AS fast,
           min(s.{register}) AS staged_register,
           min(c.prior_at) AS prior_at, min(c.prior_register) AS prior_register,
           min(c.prior2_at) AS prior2_at, min(c.prior2_register) AS prior2_register
    FROM {staging} s LEFT JOIN {current} c ON c.{device} = s.{device}
    GROUP BY s.{device} HAVING count(s.{register}) > 0"""


def derive_sql(kind: Kind, staging: str) -> str:
    """The intervals of the staged devices' register readings whose neighbourhood the batch
    touches, into derived_table(kind). psycopg2 parameters: RegisterRule.params()."""
    assert kind.register is not None
    assert kind.interval is not None
    device, register, table = kind.id_column, kind.register.column, kind.history_table
    interval = kind.interval.column
    return f"""
INSERT INTO {derived_table(kind)} (device, recorded_at, interval, staged)
WITH touched AS ({_fast(kind, staging)}
), nearby AS (
    -- The others' neighbours, from history. Of two readings with one identity history keeps
    -- the least register (models/kinds.py). Sorted once: the window below reads them in this
    -- order; a stored reading of equal register comes first (its interval is updated in place).
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
        WHERE NOT t.fast
        UNION ALL
        SELECT s.{device}, s.recorded_at, s.{register}, NULL, true
        FROM {staging} s JOIN touched t ON t.device = s.{device}
        WHERE s.{register} IS NOT NULL AND NOT t.fast
    ) readings ORDER BY device, recorded_at, r, staged
), neighbours AS (
    SELECT device, recorded_at AS t, r, old, staged,
           lag(r) OVER w AS r1, lag(recorded_at) OVER w AS t1,
           lag(r, 2) OVER w AS r2, lag(recorded_at, 2) OVER w AS t2,
           lead(r) OVER w AS rn, lead(recorded_at) OVER w AS tn
    FROM nearby WINDOW w AS (PARTITION BY device ORDER BY recorded_at)
), slow AS (
    SELECT n.device, n.t, n.old, n.staged, {_interval("n")} AS interval
    FROM neighbours n JOIN touched t USING (device)
    -- The readings whose interval the batch can change, each with all it depends on in view.
    WHERE n.t >= t.first - {_GAP} AND n.t <= t.last + 2 * {_GAP}
), fast AS (
    -- The staged reading and, from current state, the two before it; no successor yet.
    SELECT t.device, t.first AS t, t.staged_register AS r, NULL::numeric AS rn,
           NULL::timestamptz AS tn, t.prior_at AS t1, t.prior_register AS r1,
           t.prior2_at AS t2, t.prior2_register AS r2
    FROM touched t WHERE t.fast
)
SELECT device, t, kept, staged FROM slow
CROSS JOIN LATERAL (SELECT CASE WHEN interval <= %(max_kwh)s THEN interval END AS kept) k
-- The staged readings, and the stored ones whose interval changes.
WHERE staged OR kept IS DISTINCT FROM old
UNION ALL
SELECT device, t, CASE WHEN interval <= %(max_kwh)s THEN interval END, true
FROM (SELECT device, t, {_interval("f")} AS interval FROM fast f) staged
UNION ALL
-- The newest reading before the batch, a drop, turns out a glitch now that its successor is
-- back above the value before the drop: the only change one new reading makes to the past.
SELECT device, t1, NULL, false FROM fast
WHERE r1 < r2 AND t1 - t2 <= {_GAP} AND t - t1 <= {_GAP} AND r >= r2
"""


def _interval(n: str) -> str:
    """SQL: the interval of reading `n` (r at t) from its predecessors (r1 at t1, r2 at t2) and
    successor (rn at tn), per the rules above."""
    return f"""CASE
        WHEN {n}.t1 IS NULL OR {n}.t - {n}.t1 > {_GAP} THEN NULL
        WHEN {n}.r < {n}.r1 AND {n}.tn - {n}.t <= {_GAP} AND {n}.rn >= {n}.r1 THEN NULL
        WHEN {n}.r1 < {n}.r2 AND {n}.t1 - {n}.t2 <= {_GAP} AND {n}.r >= {n}.r2
            THEN CASE WHEN {n}.t - {n}.t2 <= {_GAP} THEN {n}.r - {n}.r2 END
        WHEN {n}.r < {n}.r1 THEN {n}.r
        ELSE {n}.r - {n}.r1
    END"""


def priors_sql(kind: Kind, staging: str) -> str:
    """SQL, after the batch is in history: `prior_*` and `prior2_*` of current state, the two
    register readings before the newest, read from history for every device the fast path did
    not serve (whose upsert could not know them)."""
    assert kind.register is not None
    device, register = kind.id_column, kind.register.column
    table, current = kind.history_table, kind.current_table
    return f"""
UPDATE {current} c SET prior_at = p.t[1], prior_register = p.r[1],
                       prior2_at = p.t[2], prior2_register = p.r[2]
FROM (
    SELECT t.device, array_agg(h.recorded_at ORDER BY h.recorded_at DESC) AS t,
           array_agg(h.r ORDER BY h.recorded_at DESC) AS r
    FROM ({_fast(kind, staging)}) t
    JOIN {current} n ON n.{device} = t.device
    CROSS JOIN LATERAL (
        SELECT recorded_at, {register} AS r FROM {table}
        WHERE {device} = t.device AND {register} IS NOT NULL AND recorded_at < n.recorded_at
        ORDER BY recorded_at DESC LIMIT 2
    ) h
    WHERE NOT t.fast
    GROUP BY t.device
) p
WHERE c.{device} = p.device
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

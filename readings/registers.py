"""docs/DESIGN.md's register rule in SQL: a register reading's interval energy, derived from its
device's neighbouring readings as the writer stores a batch (readings/writer.py).

A reading's interval depends on the two readings before it and the one after it (a low reading
is a glitch or a reset according to its successor), so a reading that arrives changes at most
its predecessor's interval and its two successors'. For each device with register readings in
the batch, the writer takes the readings before them from current state's chain of the device's
recent register readings when the batch's readings extend it in order (the common case: no
history read), and otherwise reads that device's register readings around them through the
index of register readings by device (never other devices' history); it works the intervals out
with window functions and writes back only stored ones that changed, marking their minutes for
the refresh. The batch holds the devices' current-state row locks meanwhile (the writer upserts
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
from datetime import timedelta

from models.kinds import Kind
from readings.records import minute_of
from settings import Settings


@dataclass(frozen=True)
class RegisterRule:
    """What the writer needs of the settings about a reading's neighbours in time: the gap a
    register interval may span, the largest interval, and the days history keeps unpacked (a
    late reading's day, or its neighbours', may be packed: readings/packed.py)."""

    gap_seconds: float = Settings.register_max_gap_seconds
    max_kwh: float = Settings.max_kwh_per_reading
    pack_after_days: int = Settings.pack_after_days

    @classmethod
    def of(cls, settings: Settings) -> RegisterRule:
        return cls(
            settings.register_max_gap_seconds,
            settings.max_kwh_per_reading,
            settings.pack_after_days,
        )

    @property
    def neighbours(self) -> timedelta:
        """How far a reading's register neighbours are looked for (derive_sql)."""
        return timedelta(seconds=3 * self.gap_seconds)

    def params(self) -> dict[str, float]:
        return {"gap": self.gap_seconds, "max_kwh": self.max_kwh}


# The rule with the settings' defaults: a worker passes its own (RegisterRule.of(settings)).
DEFAULT_RULE = RegisterRule()

_GAP = "make_interval(secs => %(gap)s)"
# Current state keeps this many register readings before a device's newest (its `recent_*`), so
# a device that sends up to RECENT - 1 readings in a batch, in order, needs no history read.
RECENT = 4


def derived_table(kind: Kind) -> str:
    return f"derived_{kind.history_table}"


def touched_table(kind: Kind) -> str:
    return f"touched_{kind.history_table}"


def create_sql(kind: Kind) -> str:
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {derived_table(kind)} "
        "(device text, recorded_at timestamptz, interval numeric, staged boolean) "
        "ON COMMIT DELETE ROWS;"
        f"CREATE TEMP TABLE IF NOT EXISTS {touched_table(kind)} (device text, first_at "
        "timestamptz, last_at timestamptz, n int, registered boolean, newest_register numeric, "
        "older_at timestamptz[], older_register numeric[]) ON COMMIT DELETE ROWS;"
    )


def touched_sql(kind: Kind, staging: str) -> str:
    """SQL, before the batch's upsert: per staged device with register readings, its readings'
    span, how many (one per identity, the one history keeps: an interval reading over a
    register one, else the least register), whether all are register readings, and all but the
    newest, newest first. The upsert moves these into current state's `recent_*`."""
    assert kind.register is not None
    device, register = kind.id_column, kind.register.column
    return f"""
INSERT INTO {touched_table(kind)}
SELECT device, min(recorded_at), max(recorded_at), count(*), bool_and(r IS NOT NULL),
       (array_agg(r ORDER BY recorded_at DESC))[1],
       (array_agg(recorded_at ORDER BY recorded_at DESC))[2:],
       (array_agg(r ORDER BY recorded_at DESC))[2:]
FROM (
    SELECT {device} AS device, recorded_at,
           CASE WHEN count(*) = count({register}) THEN min({register}) END AS r
    FROM {staging} GROUP BY 1, 2
) identities
GROUP BY device HAVING bool_or(r IS NOT NULL)"""


def upsert_source(kind: Kind, staging: str) -> tuple[str, list[str]]:
    """The upsert's FROM, and its values for `recent_*`: the staged readings before the newest
    (touched_sql), which recent_updates() puts before what current state held."""
    device = kind.id_column
    touched = touched_table(kind)
    return (
        f"{staging} LEFT JOIN {touched} t ON t.device = {staging}.{device}",
        ["t.older_at", "t.older_register"],
    )


def recent_updates(kind: Kind) -> list[str]:
    """The upsert's SET of `recent_*` (s: the stored row, EXCLUDED: the batch's newest), which
    runs when the batch moves the row. When every staged reading is newer than the stored
    newest, the chain becomes the staged ones before the newest, the stored newest, and the
    stored chain. Otherwise (a late reading or a resend among newer ones, or the newest
    replaced by a lesser reading of its identity) it is unknown until history_recent_sql()
    reads it from history after the insert."""
    assert kind.register is not None
    register = kind.register.column
    in_order = (
        "s.recorded_at < EXCLUDED.recorded_at AND coalesce("
        "EXCLUDED.recent_at[cardinality(EXCLUDED.recent_at)] > s.recorded_at, true)"
    )
    return [
        f"{target} = CASE WHEN {in_order} THEN "
        f"(EXCLUDED.{target} || s.{newest} || s.{target})[1:{RECENT}] END"
        for target, newest in (("recent_at", "recorded_at"), ("recent_register", register))
    ]


def _chains(kind: Kind) -> str:
    """SQL: each touched device, after the upsert, with its chain (its newest register readings
    from current state, newest first) and whether the chain holds what deriving its staged
    readings needs: the staged readings first (they were all newer than what was stored) and
    everything before them up to RECENT readings, register readings all."""
    assert kind.register is not None
    device, register, current = kind.id_column, kind.register.column, kind.current_table
    return f"""
    SELECT t.device, t.first_at, t.last_at, t.n,
           coalesce(t.registered AND t.n < {RECENT} AND c.recorded_at = t.last_at
               AND c.{register} = t.newest_register
               AND c.recent_at[1:t.n - 1] = t.older_at
               AND c.recent_register[1:t.n - 1] = t.older_register
               AND array_position(c.recent_register, NULL) IS NULL, false) AS fast,
           c.recorded_at || c.recent_at AS ch_t, c.{register} || c.recent_register AS ch_r
    FROM {touched_table(kind)} t LEFT JOIN {current} c ON c.{device} = t.device"""


def derive_sql(kind: Kind, staging: str) -> str:
    """The intervals of the staged devices' register readings whose neighbourhood the batch
    touches, into derived_table(kind). psycopg2 parameters: RegisterRule.params()."""
    assert kind.register is not None
    assert kind.interval is not None
    device, register, table = kind.id_column, kind.register.column, kind.history_table
    interval = kind.interval.column
    return f"""
INSERT INTO {derived_table(kind)} (device, recorded_at, interval, staged)
WITH touched AS MATERIALIZED ({_chains(kind)}
), nearby AS (
    -- The others' neighbours, from history. Of two readings with one identity history keeps
    -- the least register (models/kinds.py). Sorted once: the window below reads them in this
    -- order; a stored reading of equal register comes first (its interval is updated in place).
    SELECT DISTINCT ON (device, recorded_at) device, recorded_at, r, old, staged FROM (
        SELECT t.device, h.recorded_at, h.r, h.old, false AS staged
        FROM touched t CROSS JOIN LATERAL (
            SELECT recorded_at, {register} AS r, {interval} AS old FROM {table}
            WHERE {device} = t.device AND {register} IS NOT NULL
              AND recorded_at >= t.first_at - 3 * {_GAP}
              AND recorded_at <= t.last_at + 3 * {_GAP}
            -- Kept a subquery (the planner would join it by scanning the whole day instead):
            -- a probe of the index of register readings per device.
            OFFSET 0
        ) h
        WHERE NOT t.fast
        UNION ALL
        -- The staged readings, interval readings (r NULL) among them: a register reading right
        -- after one has no known interval (docs/DESIGN.md, "Registers", rule 2).
        SELECT s.{device}, s.recorded_at, s.{register}, NULL, true
        FROM {staging} s JOIN touched t ON t.device = s.{device}
        WHERE NOT t.fast
        UNION ALL
        -- The interval readings current state's chain knows of (the index holds none).
        SELECT t.device, u.t, NULL, NULL, false
        FROM touched t CROSS JOIN LATERAL unnest(t.ch_t, t.ch_r) u(t, r)
        WHERE NOT t.fast AND u.r IS NULL AND u.t >= t.first_at - 3 * {_GAP}
          AND u.t <= t.last_at + 3 * {_GAP}
    -- Of an interval and a register reading of one identity history keeps the interval one.
    ) readings ORDER BY device, recorded_at, r NULLS FIRST, staged
), neighbours AS (
    SELECT device, recorded_at AS t, r, old, staged,
           lag(r) OVER w AS r1, lag(recorded_at) OVER w AS t1,
           lag(r, 2) OVER w AS r2, lag(recorded_at, 2) OVER w AS t2,
           lead(r) OVER w AS rn, lead(recorded_at) OVER w AS tn
    FROM nearby WINDOW w AS (PARTITION BY device ORDER BY recorded_at)
), slow AS (
    SELECT n.device, n.t, n.old, n.staged, {_interval("n")} AS interval
    FROM neighbours n JOIN touched t USING (device)
    -- The register readings whose interval the batch can change, each with all it depends
    -- on in view.
    WHERE n.r IS NOT NULL AND n.t >= t.first_at - {_GAP} AND n.t <= t.last_at + 2 * {_GAP}
), fast AS (
    -- Each staged reading (the chain's first n) with its neighbours in the chain, and the
    -- newest stored one, whose successor the batch gave.
    SELECT c.device, i <= c.n AS staged, c.ch_t[i] AS t, c.ch_r[i] AS r,
           c.ch_t[i + 1] AS t1, c.ch_r[i + 1] AS r1, c.ch_t[i + 2] AS t2, c.ch_r[i + 2] AS r2,
           c.ch_t[i - 1] AS tn, c.ch_r[i - 1] AS rn
    FROM touched c CROSS JOIN LATERAL generate_series(1, c.n + 1) i
    WHERE c.fast AND c.ch_t[i] IS NOT NULL
)
SELECT device, t, kept, staged FROM slow
CROSS JOIN LATERAL (SELECT CASE WHEN interval <= %(max_kwh)s THEN interval END AS kept) k
-- The staged readings, and the stored ones whose interval changes.
WHERE staged OR kept IS DISTINCT FROM old
UNION ALL
SELECT device, t, CASE WHEN interval <= %(max_kwh)s THEN interval END, true
FROM (SELECT device, t, {_interval("f")} AS interval FROM fast f WHERE staged) derived
UNION ALL
-- The newest stored reading, a drop, turns out a glitch now that its successor is back above
-- the value before the drop: the only change readings in order make to the past.
SELECT device, t, NULL, false FROM fast
WHERE NOT staged AND r < r1 AND t - t1 <= {_GAP} AND tn - t <= {_GAP} AND rn >= r1
"""


def _interval(n: str) -> str:
    """SQL: the interval of reading `n` (r at t) from its predecessors (r1 at t1, r2 at t2) and
    successor (rn at tn), per the rules above."""
    return f"""CASE
        WHEN {n}.t1 IS NULL OR {n}.t - {n}.t1 > {_GAP} THEN NULL
        WHEN {n}.r1 IS NULL THEN NULL
        WHEN {n}.r < {n}.r1 AND {n}.tn - {n}.t <= {_GAP} AND {n}.rn >= {n}.r1 THEN NULL
        WHEN {n}.r1 < {n}.r2 AND {n}.t1 - {n}.t2 <= {_GAP} AND {n}.r >= {n}.r2
            THEN CASE WHEN {n}.t - {n}.t2 <= {_GAP} THEN {n}.r - {n}.r2 END
        WHEN {n}.r < {n}.r1 THEN {n}.r
        ELSE {n}.r - {n}.r1
    END"""


def history_recent_sql(kind: Kind, staging: str) -> str:
    """SQL, after the batch is in history: current state's `recent_*` read from history for
    every touched device whose chain the upsert could not extend (late readings, more than
    RECENT - 1 in the batch, interval readings among them), with the interval readings known
    (the batch's and the chain's: the index of register readings holds none) as unknown
    registers, so that a register reading after one is never derived across it."""
    assert kind.register is not None
    device, register = kind.id_column, kind.register.column
    table, current = kind.history_table, kind.current_table
    return f"""
UPDATE {current} c SET recent_at = p.t, recent_register = p.r
FROM (
    SELECT t.device,
           coalesce(array_agg(h.recorded_at ORDER BY h.recorded_at DESC)
                    FILTER (WHERE h.recorded_at IS NOT NULL), '{{}}') AS t,
           coalesce(array_agg(h.r ORDER BY h.recorded_at DESC)
                    FILTER (WHERE h.recorded_at IS NOT NULL), '{{}}') AS r
    FROM ({_chains(kind)}) t
    JOIN {current} n ON n.{device} = t.device
    LEFT JOIN LATERAL (
        SELECT recorded_at, r FROM (
            SELECT DISTINCT ON (recorded_at) recorded_at, r FROM (
                (SELECT recorded_at, {register} AS r FROM {table}
                 WHERE {device} = t.device AND {register} IS NOT NULL
                   AND recorded_at < n.recorded_at
                 ORDER BY recorded_at DESC LIMIT {RECENT})
                UNION ALL
                SELECT u.t, NULL FROM unnest(t.ch_t, t.ch_r) u(t, r)
                WHERE u.r IS NULL AND u.t < n.recorded_at
                UNION ALL
                SELECT s.recorded_at, NULL FROM {staging} s
                WHERE s.{device} = t.device AND s.{register} IS NULL
                  AND s.recorded_at < n.recorded_at
            ) known ORDER BY recorded_at, r NULLS FIRST
        ) one_each ORDER BY recorded_at DESC LIMIT {RECENT}
    ) h ON true
    WHERE NOT t.fast
    GROUP BY t.device
) p
WHERE c.{device} = p.device
"""


def staged_source(kind: Kind, staging: str, columns: list[str]) -> str:
    """SQL: the staged rows (`columns`) with register readings' intervals as derived: what
    history's insert reads in place of the staging table."""
    assert kind.register is not None
    assert kind.interval is not None
    device, register, staged = kind.id_column, kind.register.column, kind.interval.name
    derived = derived_table(kind)
    values = [
        f"CASE WHEN s.{register} IS NULL THEN s.{c} ELSE d.interval END AS {c}"
        if c == staged
        else f"s.{c}"
        for c in columns
    ]
    return (
        f"(SELECT {', '.join(values)} FROM {staging} s LEFT JOIN {derived} d ON d.staged "
        f"AND d.device = s.{device} AND d.recorded_at = s.recorded_at) staged"
    )


def apply_sql(kind: Kind) -> str:
    """SQL setting the derived intervals of stored readings that changed, marking their minutes
    for the refresh. Current state keeps a register reading as sent: its interval is read from
    history (readings/current_state.py)."""
    assert kind.register is not None
    assert kind.interval is not None
    device, register, interval = kind.id_column, kind.register.column, kind.interval.column
    # By the primary key, a probe per derived reading: joined any other way, the planner may
    # scan the day's history (it cannot know that the derived readings are few).
    return (
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
        f"WITH changed AS (UPDATE {kind.history_table} h SET {interval} = d.interval "
        f"FROM {derived_table(kind)} d WHERE NOT d.staged AND h.{device} = d.device "
        f"AND h.recorded_at = d.recorded_at AND h.{register} IS NOT NULL "
        "RETURNING h.recorded_at) "
        f"INSERT INTO dirty_minutes (minute) SELECT DISTINCT {minute_of('recorded_at')} "
        "FROM changed; "
        "SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on"
    )

"""Every table, declared once: queries use these, the tables of each kind of reading are made
from models/kinds.py, and a test holds the migrated database to this module (Alembic's
compare_metadata, tests/models/test_migrations.py). The schema is changed only by migrations.

One module past 400 lines because it is the one place the schema is declared: every table here,
beside the others it joins, is what the migrations are checked against.

History keeps energy as exact `numeric`; SOC, battery temperature and voltage are stored as
integer hundredths (exact to 0.01, as a numeric(.., 2) column would be, at a third of the bytes),
which keeps a reading under 100 bytes on disk. The primary key is device first: a device's
readings are one index range (its pages, the packing of its day: readings/packed.py), and time
ranges are read through a BRIN index, which rows arriving in time order keep tight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INT4MULTIRANGE

from models.kinds import DEVICE_KINDS, KINDS, REGISTER, Kind

metadata = MetaData()


def _history(kind: Kind) -> Table:
    """A kind's history: columns ordered widest alignment last-to-first (fixed-width integers,
    then text, then numeric) so that no padding is stored between them."""
    hundredths = [q for q in kind.quantities if not q.energy]
    energy = [q for q in kind.quantities if q.energy]
    return Table(
        kind.history_table,
        metadata,
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        *(Column(q.column, q.sql_type, nullable=kind.nullable(q)) for q in hundredths),
        Column(kind.id_column, Text, nullable=False),
        *(Column(column, Text, nullable=False) for column in kind.ref_columns),
        *(Column(q.column, q.sql_type, nullable=kind.nullable(q)) for q in energy),
        *(Column(column, REGISTER) for column in kind.register_columns),
        PrimaryKeyConstraint(kind.id_column, "recorded_at"),
        # Time ranges (the refresh's minutes, a rebuild's runs) by block range: rows arrive
        # nearly in time order, so a few ranges hold a minute, at a few bytes per range.
        Index(f"{kind.history_table}_time", "recorded_at", postgresql_using="brin"),
        *_register_index(kind),
        postgresql_partition_by="RANGE (recorded_at)",
    )


def packed_table(kind: Kind) -> str:
    return f"packed_{kind.history_table}"


@dataclass(frozen=True)
class PackedArray:
    """An array of a packed day and the history column it holds: the moment as microseconds
    since the UTC day began, numerics (six places) as integer millionths, the rest as stored."""

    name: str
    element: Any
    column: str
    micro: bool = False


def packed_arrays(kind: Kind) -> list[PackedArray]:
    arrays = [PackedArray("at_us", BigInteger, "recorded_at")]
    types = {q.column: q for q in kind.quantities}
    for column in kind.stored_columns:
        quantity = types.get(column)
        if quantity is not None and not quantity.energy:
            arrays.append(PackedArray(column, quantity.sql_type, column))
        elif quantity is not None or column in kind.register_columns:
            arrays.append(PackedArray(f"{column}_micro", BigInteger, column, micro=True))
        else:
            arrays.append(PackedArray(column, Text, column))
    return arrays


def _packed(kind: Kind) -> Table:
    """A kind's closed days, one row per (device, UTC day): the day's readings as arrays in time
    order (readings/packed.py), which PostgreSQL compresses as one value each."""
    return Table(
        packed_table(kind),
        metadata,
        Column("day", Date, nullable=False),
        Column(kind.id_column, Text, nullable=False),
        Column("readings", Integer, nullable=False),
        *(Column(a.name, ARRAY(a.element), nullable=False) for a in packed_arrays(kind)),
        PrimaryKeyConstraint("day", kind.id_column),
        Index(f"{packed_table(kind)}_device", kind.id_column, "day"),
    )


def _register_index(kind: Kind) -> list[Index]:
    """A register reading's interval needs its device's neighbours: found through this index,
    device first, which holds register readings only (interval fleets pay nothing for it) and
    their intervals (readings/registers.py reads it alone)."""
    if kind.register is None or kind.interval is None:
        return []
    register = kind.register.column
    return [
        Index(
            f"{kind.history_table}_register",
            kind.id_column,
            "recorded_at",
            postgresql_where=text(f"{register} IS NOT NULL"),
            postgresql_include=[register, kind.interval.column],
        )
    ]


RECENT = (("recent_at", ARRAY(DateTime(timezone=True))), ("recent_register", ARRAY(REGISTER)))


def _current(kind: Kind) -> Table:
    """A kind's current state: one row per device, its newest reading."""
    return Table(
        kind.current_table,
        metadata,
        Column(kind.id_column, Text, primary_key=True),
        *(Column(column, Text, nullable=False) for column in kind.ref_columns),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        *(Column(q.column, q.sql_type, nullable=kind.nullable(q)) for q in kind.quantities),
        *(Column(column, REGISTER) for column in kind.register_columns),
        # The register readings before the newest, newest first: what the register rule needs
        # of the past when a device's next readings arrive in order (readings/registers.py).
        *(Column(name, type_) for name, type_ in RECENT if kind.register is not None),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )


HISTORY = {kind.name: _history(kind) for kind in KINDS}
PACKED = {kind.name: _packed(kind) for kind in KINDS}
CURRENT = {kind.name: _current(kind) for kind in KINDS}

# Minutes that received readings since the refresh last looked. Append-only between refreshes so
# that workers never wait on the refresh's locks.
dirty_minutes = Table(
    "dirty_minutes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("minute", DateTime(timezone=True), nullable=False),
)


def _figures() -> list[Column]:
    """A kept minute's figures, or their sums over an hour: energy exact, SOC and temperature as
    integer hundredths, readings counted."""
    return [
        Column("ac_kwh", Numeric, nullable=False),
        Column("dc_kwh", Numeric, nullable=False),
        Column("soc_hundredths_sum", BigInteger, nullable=False),
        Column("battery_temp_hundredths_sum", BigInteger, nullable=False),
        Column("readings", Integer, nullable=False),
    ]


# What each kept (meter, minute) contributes to its vehicle's and its meter's figures
# (docs/DESIGN.md, "The efficiency rule"): one row per (meter, minute), for the one vehicle that
# reported the meter in it. Sums, not means, so that a minute can be subtracted exactly when it
# leaves the window. `minutes` is the row's share of its vehicle's minutes counted: 1, or 0 when
# the vehicle's minute already counts on a meter with a lesser id (a vehicle that named two meters
# in one minute has one minute, not two). `suspect_minutes` is 1 when DC exceeds AC: physically
# impossible, so a clock or a meter is wrong; counted, never taken out of the sums.
vehicle_minute_contributions = Table(
    "vehicle_minute_contributions",
    metadata,
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("vehicle_id", Text, nullable=False),
    *_figures(),
    Column("meter_id", Text, nullable=False),
    Column("suspect_minutes", SmallInteger, nullable=False),
    Column("minutes", SmallInteger, nullable=False),
    PrimaryKeyConstraint("minute", "meter_id"),
    # A vehicle's and a meter's hours, days and windows read their own minutes only.
    Index("vehicle_minute_contributions_vehicle", "vehicle_id", "minute"),
    Index("vehicle_minute_contributions_meter", "meter_id", "minute"),
    postgresql_partition_by="RANGE (minute)",
)

# The contributions summed per UTC hour and (meter, vehicle) (efficiency/rollups.py): what every
# figure of a whole hour sums, kept ROLLUP_RETENTION_DAYS, after the minutes' day partitions are
# dropped. `minutes` is the vehicle's minutes counted, `meter_minutes` the meter's (its rows).
efficiency_hourly = Table(
    "efficiency_hourly",
    metadata,
    Column("hour", DateTime(timezone=True), nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("vehicle_id", Text, nullable=False),
    *_figures(),
    Column("suspect_minutes", Integer, nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("meter_minutes", Integer, nullable=False),
    # A meter's hours by its key, a vehicle's by its index: two to maintain, not three.
    PrimaryKeyConstraint("meter_id", "hour", "vehicle_id"),
    Index("efficiency_hourly_vehicle", "vehicle_id", "hour"),
)


def _sums(name: str, *keys: Column, extra: tuple[Column | Index, ...] = ()) -> Table:
    """Running sums over the window in efficiency_window, one row per key with a kept minute:
    the efficiency rule's figures and the minutes counted."""
    return Table(
        name,
        metadata,
        *keys,
        Column("ac_kwh", Numeric, nullable=False),
        Column("dc_kwh", Numeric, nullable=False),
        Column("soc_hundredths_sum", BigInteger, nullable=False),
        Column("battery_temp_hundredths_sum", BigInteger, nullable=False),
        Column("readings", BigInteger, nullable=False),
        Column("minutes", Integer, nullable=False),
        Column("suspect_minutes", BigInteger, nullable=False),
        *extra,
    )


vehicle_efficiency_24h = _sums(
    "vehicle_efficiency_24h", Column("vehicle_id", Text, primary_key=True)
)
# A meter's figures are its vehicles' on it: kept per (meter, vehicle), so that the vehicles a
# meter served stay countable as minutes leave the window, and summed per meter after each
# refresh (vehicles: how many (meter, vehicle) rows it has).
meter_vehicle_efficiency_24h = _sums(
    "meter_vehicle_efficiency_24h",
    Column("meter_id", Text, primary_key=True),
    Column("vehicle_id", Text, primary_key=True),
)
meter_efficiency_24h = _sums(
    "meter_efficiency_24h",
    Column("meter_id", Text, primary_key=True),
    extra=(
        Column("vehicles", Integer, nullable=False),
        # The chargers' listing, worst first by default, reads a page in this order
        # (fleet.METERS' chargingEfficiency) instead of sorting every charger per page.
        Index(
            "meter_efficiency_24h_by_efficiency",
            text("coalesce(dc_kwh / nullif(ac_kwh, 0), 'Infinity'::numeric)"),
            "meter_id",
        ),
    ),
)

efficiency_window = Table(
    "efficiency_window",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("refreshed_at", DateTime(timezone=True), nullable=False),
    # efficiency_hourly holds the hours before this one (efficiency/rollups.py); NULL: none yet.
    Column("hours_through", DateTime(timezone=True)),
)

# Charging sessions (efficiency/sessions.py): a vehicle's stretch of readings naming one
# meter, no two consecutive ones further apart than SESSION_GAP_SECONDS. Built by the refresh
# from the minutes that received readings, merged as late readings bridge gaps. `seen_minutes`:
# the minutes (since the epoch) with a reading, a stretch of consecutive minutes one range. The
# sums are its vehicle's contributions on its meter within it, kept by the refresh as they move;
# `minutes` counts those contributions (the kept minutes).
charging_sessions = Table(
    "charging_sessions",
    metadata,
    Column("vehicle_id", Text, nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_at", DateTime(timezone=True), nullable=False),
    Column("start_soc_hundredths", SmallInteger, nullable=False),
    Column("end_soc_hundredths", SmallInteger, nullable=False),
    Column("seen_minutes", INT4MULTIRANGE, nullable=False),
    Column("ac_kwh", Numeric, nullable=False),
    Column("dc_kwh", Numeric, nullable=False),
    Column("suspect_minutes", Integer, nullable=False),
    Column("minutes", Integer, nullable=False),
    PrimaryKeyConstraint("vehicle_id", "meter_id", "start_at"),
    Index("charging_sessions_vehicle", "vehicle_id", "start_at"),
    Index("charging_sessions_meter", "meter_id", "start_at"),
)

# Chargers whose last CHARGER_ALERT_SESSIONS sessions all charged under EFFICIENCY_ALERT_BELOW,
# as the periodic check last found them (efficiency/alerts.py); efficiencies newest first.
failing_chargers = Table(
    "failing_chargers",
    metadata,
    Column("meter_id", Text, primary_key=True),
    Column("efficiencies", ARRAY(Numeric), nullable=False),
    Column("last_session_end", DateTime(timezone=True), nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
)

# Readings PostgreSQL refused (or entries that hold no readings), written in the batch's own
# transaction. reading_key, the reading's identity as in history, makes a letter once however
# often its entry was processed or replayed. position is the reading's index in its stream
# entry, -1 for a whole entry.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("reading_key", Text, nullable=False, unique=True),
    Column("entry_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("record", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Per-device tokens, stored as their SHA-256 (devices/credentials.py); one live token a device.
device_credentials = Table(
    "device_credentials",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("device_kind", Text, nullable=False),
    Column("device_id", Text, nullable=False),
    Column("token_sha256", LargeBinary, nullable=False, unique=True),
    Column("token_prefix", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    CheckConstraint(
        f"device_kind IN ({', '.join(repr(kind) for kind in DEVICE_KINDS)})",
        name="device_kind_known",
    ),
    Index(
        "device_credentials_one_live",
        "device_kind",
        "device_id",
        unique=True,
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

# The meters a vehicle's token may name (docs/DESIGN.md, "Trust").
vehicle_meter_bindings = Table(
    "vehicle_meter_bindings",
    metadata,
    Column("vehicle_id", Text, nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("vehicle_id", "meter_id"),
)

# What a charger's meter values say besides energy (readings/samples.py): power, current,
# voltage, frequency, SoC and temperature, per connector, phase and location, in the units
# kept (kW, A, V, Hz, %, °C), exact. One row per (moment, meter, measurand, phase, location):
# the same value under two contexts is one. Kept in day partitions, as history is.
charger_samples = Table(
    "charger_samples",
    metadata,
    Column("at", DateTime(timezone=True), nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("measurand", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("value", Numeric, nullable=False),
    PrimaryKeyConstraint("at", "meter_id", "measurand", "phase", "location"),
    postgresql_partition_by="RANGE (at)",
)

# Signed meter values (readings/signed.py), kept byte for byte as the charger sent them (1.6's
# SignedData value; 2.0.1's signedMeterValue with its method, encoding and key) with their
# context and the transaction they came with (as sessions name it: 2.0.1's own ID, else 1.6's
# number). `unsigned_kwh` is the register the same sample set said unsigned, which a valid
# signature's reading is held to. A resend is the same row: one per meter, moment, context and
# SHA-256 of the data.
charger_signed_values = Table(
    "charger_signed_values",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("meter_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("context", Text, nullable=False),
    Column("measurand", Text, nullable=False),
    Column("transaction_id", Text),
    Column("signed_data", Text, nullable=False),
    Column("signing_method", Text),
    Column("encoding_method", Text),
    Column("public_key", Text),
    Column("unsigned_kwh", Numeric),
    Column("digest", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("charger_signed_values_once", "meter_id", "at", "context", "digest", unique=True),
    Index("charger_signed_values_by_transaction", "meter_id", "transaction_id"),
)

# Calibrated meters' public keys (`flask devices key`), DER SubjectPublicKeyInfo: what signed
# values are verified against. Keyed by meter: a connector's own, else its charger's.
meter_public_keys = Table(
    "meter_public_keys",
    metadata,
    Column("meter_id", Text, primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A charger's OCPP security profile (chargers/tls.py), kept with its credentials across token
# rotations; a charger without a row is at profile 1.
charger_security_profiles = Table(
    "charger_security_profiles",
    metadata,
    Column("charge_point_id", Text, primary_key=True),
    Column("profile", SmallInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("profile BETWEEN 1 AND 3", name="security_profile_known"),
)

# Chargers' transactions as OCPP reports them (chargers/). A 1.6 transaction's ID is `id`, which
# this service hands out (StartTransaction); a 2.0.1 transaction's is the charger's own, `ref`.
# A resent StartTransaction finds its row again by (charger, connector, start).
charging_transactions = Table(
    "charging_transactions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("charge_point_id", Text, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("ref", Text),
    Column("protocol", Text, nullable=False),
    Column("id_tag", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("stopped_at", DateTime(timezone=True)),
    Column("meter_start_kwh", Numeric(18, 6)),
    Column("meter_stop_kwh", Numeric(18, 6)),
    Column("stop_reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "charging_transactions_ref",
        "charge_point_id",
        "ref",
        unique=True,
        postgresql_where=text("ref IS NOT NULL"),
    ),
    Index(
        "charging_transactions_start",
        "charge_point_id",
        "connector_id",
        "started_at",
        unique=True,
        postgresql_where=text("ref IS NULL"),
    ),
    # A charging session finds its charger's transaction (efficiency/sessions.py).
    Index("charging_transactions_by_start", "charge_point_id", "started_at"),
)

# What chargers say about themselves (devices/availability.py): every StatusNotification, per
# meter (a connector or EVSE; connector 0's is the charger's own), at its own time; a resend is
# the same row. `connector_id` is 2.0.1's connector within the EVSE (0 for 1.6).
charger_statuses = Table(
    "charger_statuses",
    metadata,
    Column("meter_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("vendor_error_code", Text),
    Column("info", Text),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("meter_id", "at", "connector_id", "status"),
)

# When a charger could be heard: a WebSocket from open to close, or a forwarded charger's run of
# messages none further apart than two heartbeat intervals. `last_seen` moves with its messages:
# a connection whose process died unannounced ends two heartbeat intervals after it.
charger_connections = Table(
    "charger_connections",
    metadata,
    Column("charge_point_id", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("forwarded", Boolean, nullable=False),
    PrimaryKeyConstraint("charge_point_id", "opened_at"),
)

# The tables kept in day partitions (storage/partitions.py), each with the column it is split by.
PARTITIONED = {
    **{kind.history_table: "recorded_at" for kind in KINDS},
    "vehicle_minute_contributions": "minute",
    "charger_samples": "at",
}

# Every table, for emptying a test's or the bench's database in one TRUNCATE.
ALL_TABLES = ", ".join(table.name for table in metadata.sorted_tables)


def declared_here(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's include_object: the day partitions (and their indexes) are made by
    storage/partitions.py at run time, not declared here, so autogenerate must not see them."""
    table = item.table.name if kind == "index" else name
    return not (reflected and table is not None and table.startswith(_PARTITION_PREFIXES))


_PARTITION_PREFIXES = tuple(f"{name}_" for name in PARTITIONED)

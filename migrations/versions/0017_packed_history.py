"""Packed history: a row of arrays per device and closed UTC day (readings/packed.py), and
history keyed by device and time, with a BRIN index for time ranges. Packs the days before the
last PACK_AFTER_DAYS that exist.

The packing statements are written out here as they are at this revision: the code's may change.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from settings import Settings

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENERGY, REGISTER = "numeric(10, 6)", "numeric(18, 6)"
# Per kind: history, its device column, and its arrays (name, element type, the history column
# with how it is encoded and decoded).
KINDS = {
    "meter": (
        "meter_readings",
        "meter_id",
        [
            ("kwh_consumed_ac_micro", sa.BigInteger, "kwh_consumed_ac", ENERGY),
            ("voltage_hundredths", sa.Integer, "voltage_hundredths", None),
            ("kwh_register_ac_micro", sa.BigInteger, "kwh_register_ac", REGISTER),
        ],
    ),
    "vehicle": (
        "vehicle_readings",
        "vehicle_id",
        [
            ("meter_id", sa.Text, "meter_id", None),
            ("kwh_delivered_dc_micro", sa.BigInteger, "kwh_delivered_dc", ENERGY),
            ("soc_hundredths", sa.SmallInteger, "soc_hundredths", None),
            ("battery_temp_hundredths", sa.SmallInteger, "battery_temp_hundredths", None),
            ("kwh_register_dc_micro", sa.BigInteger, "kwh_register_dc", REGISTER),
        ],
    ),
}
LOCK_KEYS = {"meter": 0x45565F4D, "vehicle": 0x45565F56}


def upgrade() -> None:
    for table, key, arrays in KINDS.values():
        # Device first: a device's readings are one range (its pages, its day's packing); time
        # ranges through a BRIN index.
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(f"{table}_pkey", table, [key, "recorded_at"])
        op.create_index(f"{table}_time", table, ["recorded_at"], postgresql_using="brin")
        op.create_table(
            f"packed_{table}",
            sa.Column("day", sa.Date, nullable=False),
            sa.Column(key, sa.Text, nullable=False),
            sa.Column("readings", sa.Integer, nullable=False),
            sa.Column("at_us", sa.ARRAY(sa.BigInteger), nullable=False),
            *(sa.Column(name, sa.ARRAY(element), nullable=False) for name, element, _, _ in arrays),
            sa.PrimaryKeyConstraint("day", key),
        )
        op.create_index(f"packed_{table}_device", f"packed_{table}", [key, "day"])
    days = Settings.from_env().pack_after_days
    for name, (table, key, arrays) in KINDS.items():
        op.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEYS[name]})")
        day = "(recorded_at AT TIME ZONE 'UTC')::date"
        encoded = ", ".join(
            f"array_agg(({column} * 1000000)::bigint ORDER BY recorded_at)"
            if decoded
            else f"array_agg({column} ORDER BY recorded_at)"
            for _, _, column, decoded in arrays
        )
        op.execute(
            f"""
            WITH moved AS (
                DELETE FROM {table}
                WHERE recorded_at < ((now() AT TIME ZONE 'UTC')::date - {days})::timestamp
                                    AT TIME ZONE 'UTC'
                RETURNING *
            )
            INSERT INTO packed_{table}
            SELECT {day}, {key}, count(*),
                   array_agg((extract(epoch FROM recorded_at - ({day}::timestamp
                              AT TIME ZONE 'UTC')) * 1000000)::bigint ORDER BY recorded_at),
                   {encoded}
            FROM moved GROUP BY {day}, {key}
            """
        )


def downgrade() -> None:
    for table, key, arrays in KINDS.values():
        decoded = ", ".join(
            f"(u.{name}::numeric * 0.000001)::{to}" if to else f"u.{name}"
            for name, _, _, to in arrays
        )
        names = ", ".join(name for name, _, _, _ in arrays)
        op.execute(
            f"""
            INSERT INTO {table} (recorded_at, {key}, {", ".join(c for _, _, c, _ in arrays)})
            SELECT (p.day::timestamp + u.at_us * interval '1 microsecond') AT TIME ZONE 'UTC',
                   p.{key}, {decoded}
            FROM packed_{table} p CROSS JOIN LATERAL
                 unnest(p.at_us, {", ".join(f"p.{n}" for n, _, _, _ in arrays)})
                 AS u(at_us, {names})
            """
        )
        op.drop_table(f"packed_{table}")
        op.drop_index(f"{table}_time", table_name=table)
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(f"{table}_pkey", table, ["recorded_at", key])

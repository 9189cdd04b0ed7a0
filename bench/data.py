"""What the benchmark sends and stores: fleet readings as request bodies, and 24 h of history."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine, text

from simulator.fleet import Fleet, FleetSpec

# The analytics-read measurement's table: `:n` vehicles, V00000..., with the seed's V1 figures.
PERFORMANCE_ROWS = (
    "INSERT INTO vehicle_efficiency_24h SELECT 'V' || lpad(i::text, 5, '0'), "
    "2.7202, 2.4508, 2228200, 3030000, 100, 100, 0 FROM generate_series(0, :n - 1) i"
)
# The same for `:n` meters, M00000..., each having served one vehicle.
METER_ROWS = (
    "INSERT INTO meter_efficiency_24h SELECT 'M' || lpad(i::text, 5, '0'), "
    "2.7202 + i * 0.0001, 2.4508, 2228200, 3030000, 100, 100, 0, 1 "
    "FROM generate_series(0, :n - 1) i"
)
# A month of charging for `:n` vehicles: four hour-long sessions a day each on its own meter,
# with what their per-minute contributions (below) sum to.
MONTH_OF_SESSIONS = """
INSERT INTO charging_sessions
SELECT 'V' || lpad(v::text, 5, '0'), 'M' || lpad(v::text, 5, '0'), s, s + interval '59 minutes',
       2000, 8000,
       int4multirange(int4range((extract(epoch FROM s) / 60)::int,
                                (extract(epoch FROM s) / 60)::int + 60)),
       12.0, 10.8, 0, 60
FROM generate_series(0, :n - 1) v,
     generate_series(date_bin('1 hour', now() - interval '30 days', timestamptz 'epoch'),
                     now() - interval '1 hour', interval '6 hours') s
"""
MONTH_OF_CONTRIBUTIONS = """
INSERT INTO vehicle_minute_contributions
    (minute, vehicle_id, ac_kwh, dc_kwh, soc_hundredths_sum, battery_temp_hundredths_sum,
     readings, meter_id, suspect_minutes, minutes)
SELECT m, s.vehicle_id, 0.2, 0.18, 5000, 3000, 1, s.meter_id, 0, 1
FROM charging_sessions s, generate_series(s.start_at, s.end_at, interval '1 minute') m
"""
PERFORMANCE_WINDOW = (
    "INSERT INTO efficiency_window VALUES (1, now() - interval '1 day', now(), now())"
)


def fleet_minutes(vehicles: int, minutes: int, seed: int = 7) -> list[list[dict]]:
    """`minutes` minutes of a fleet of `vehicles` vehicles and as many meters, ending a few
    minutes ago (so no timestamp is in the future), as wire-format readings per minute."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes + 5)
    spec = FleetSpec(
        meters=vehicles,
        vehicles=vehicles,
        minutes=minutes,
        start=start,
        seed=seed,
        share=0.05,
        duplicate=0.0,
        offline=0.0,
        # Everybody charges: the heaviest load a fleet of this size makes.
        idle_minutes=(0, 0),
        session_minutes=(30, 120),
    )
    return [[r.wire() for r in readings] for _, readings in Fleet(spec).minutes()]


def bodies(minutes: list[list[dict]], size: int, limit: int | None = None) -> list[bytes]:
    """JSON arrays of `size` readings (the first `limit` readings), in the order devices send."""
    flat = [reading for minute in minutes for reading in minute][:limit]
    return [orjson.dumps(flat[i : i + size]) for i in range(0, len(flat), size)]


# The columns of copy_rows' lines (history also has the register, which they leave empty).
METER_COLUMNS = "(recorded_at, voltage_hundredths, meter_id, kwh_consumed_ac)"
VEHICLE_COLUMNS = (
    "(recorded_at, soc_hundredths, battery_temp_hundredths, vehicle_id, meter_id, kwh_delivered_dc)"
)


def copy_rows(minutes: list[list[dict]]) -> tuple[str, str, int]:
    """The readings as COPY text for tables shaped like meter_readings and vehicle_readings."""
    meters, vehicles = io.StringIO(), io.StringIO()
    count = 0
    for minute in minutes:
        for r in minute:
            count += 1
            if "vehicleId" in r:
                vehicles.write(
                    f"{r['timestamp']}\t{round(r['soc'] * 100)}\t{round(r['batteryTemp'] * 100)}"
                    f"\t{r['vehicleId']}\t{r['meterId']}\t{r['kwhDeliveredDc']}\n"
                )
            else:
                meters.write(
                    f"{r['timestamp']}\t{round(r['voltage'] * 100)}\t{r['meterId']}"
                    f"\t{r['kwhConsumedAc']}\n"
                )
    return meters.getvalue(), vehicles.getvalue(), count


# History for the refresh measurements, made by PostgreSQL itself: 24 h of a whole fleet in
# Python would take longer than the measurement. Every vehicle charges every minute from its
# own meter, moving to the next meter each hour; one vehicle in 50 shares its meter with the
# next vehicle, so exclusivity has work to do.
_HISTORY = """
INSERT INTO {table}
SELECT {columns}
FROM generate_series(:start, :end - interval '1 minute', interval '1 minute') AS m(minute),
     generate_series(0, :vehicles - 1) AS v(i),
     LATERAL (SELECT (i + extract(hour FROM minute)::int) % :vehicles AS meter_no) AS placed
"""
_METER_COLUMNS = """
    minute + make_interval(secs => (i * 7919) % 60000 / 1000.0), 23000 + (i % 500),
    'M' || lpad(meter_no::text, 5, '0'), round((0.12 + (i % 97) / 1000.0)::numeric, 4)
"""
_VEHICLE_COLUMNS = """
    minute + make_interval(secs => (i * 104729) % 60000 / 1000.0),
    (1000 + (extract(epoch FROM minute)::bigint / 60 + i) % 8000)::smallint,
    (2500 + i % 900)::smallint, 'V' || lpad(i::text, 5, '0'),
    'M' || lpad(CASE WHEN i % 50 = 1 THEN (meter_no + :vehicles - 1) % :vehicles
                     ELSE meter_no END::text, 5, '0'),
    round(((0.12 + (i % 97) / 1000.0) * (0.86 + (i % 11) / 100.0))::numeric, 4)
"""


def load_history(
    engine: Engine, start: datetime, end: datetime, vehicles: int, dirty: bool = False
) -> int:
    """Fill history with [start, end) for `vehicles` vehicles and meters; returns rows.

    dirty: note the minutes for the refresh, as the workers do for what they write.
    """
    params = {"start": start, "end": end, "vehicles": vehicles}
    rows = 0
    with engine.begin() as conn:
        for table, columns in (
            ("meter_readings", _METER_COLUMNS),
            ("vehicle_readings", _VEHICLE_COLUMNS),
        ):
            rows += conn.execute(
                text(_HISTORY.format(table=table, columns=columns)), params
            ).rowcount
        if dirty:
            conn.execute(
                text(
                    "INSERT INTO dirty_minutes (minute) SELECT generate_series(:start, "
                    ":end - interval '1 minute', interval '1 minute')"
                ),
                params,
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE meter_readings, vehicle_readings"))
    return rows

"""Every setting the service reads, from the environment, in one place.

Each value goes through a typed parser so that a typo fails at start-up with the variable's name,
never later as a strange runtime error. Defaults work on a laptop: a local PostgreSQL and Redis
(`make run` starts embedded ones when the URLs are unset).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit


class SettingError(ValueError):
    """A variable is set to something its parser cannot read."""


def _number(env: Mapping[str, str], name: str, default: float, kind: type, minimum: float) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if value < minimum:
        raise SettingError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    return int(_number(env, name, default, int, minimum))


def _bounded_int(
    env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int
) -> int:
    value = _int(env, name, default, minimum)
    if value > maximum:
        raise SettingError(f"{name}={value} must be at most {maximum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    return float(_number(env, name, default, float, minimum))


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name}={raw!r} is not a boolean (use true/false)")


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _host_ports(env: Mapping[str, str], name: str) -> tuple[tuple[str, int], ...]:
    out = []
    for item in _list(env, name):
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingError(f"{name}: {item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return tuple(out)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _str(env, name, default).lower()
    if value not in choices:
        raise SettingError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def sqlalchemy_url(url: str) -> str:
    """Accept the URL forms operators paste (postgres://, postgresql://) and pin the driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def sentinel_broker_url(redis_url: str, sentinels: tuple[tuple[str, int], ...]) -> str:
    """Kombu's form for a broker found through Sentinels: `sentinel://h:p;sentinel://h:p/db`,
    with REDIS_URL's credentials and database."""
    if not sentinels:
        return ""
    url = urlsplit(redis_url)
    auth = url.netloc.rpartition("@")[0]
    auth = auth + "@" if auth else ""
    db = url.path.strip("/") or "0"
    hosts = [(f"[{h}]" if ":" in h else h, p) for h, p in sentinels]
    return ";".join(f"sentinel://{auth}{h}:{p}/{db}" for h, p in hosts)


# What a web process gives requests in flight on SIGTERM (Granian and gunicorn alike); compose's
# stop_grace_period must be longer.
WEB_GRACEFUL_SECONDS = 20


@dataclass(frozen=True)
class Settings:
    # Connections
    database_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/evtelemetry"
    # The API's reads (analytics, fleet, health): a streaming replica, say. Empty: DATABASE_URL.
    database_read_url: str = ""
    # Off behind a pooler in transaction mode (PgBouncer), where a session's PREPAREd
    # statements may be missing on the next transaction's server connection.
    database_prepared_statements: bool = True
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Set: the Redis master is found through these Sentinels, by name; REDIS_URL then gives only
    # the database number and credentials.
    redis_sentinels: tuple[tuple[str, int], ...] = field(default=())
    redis_sentinel_master: str = ""
    redis_sentinel_password: str = ""  # the Sentinels' own (requirepass in sentinel.conf)
    # Replicas that must hold a request's readings before it is answered 202 (Redis WAIT).
    redis_replica_acks: int = 0
    celery_broker_url: str = ""  # empty: the same Redis as the stream
    redis_key_prefix: str = "ev"
    celery_queue: str = "ev"

    # Processes
    host: str = "127.0.0.1"
    port: int = 8000
    # The OCPP central system (chargers/): ws://HOST:OCPP_PORT/ocpp/<chargePointId>.
    ocpp_port: int = 9000
    # The heartbeat interval a BootNotification's answer gives chargers.
    ocpp_heartbeat_seconds: int = 300
    # wss:// (OCPP security profiles 2 and 3, chargers/tls.py): the server's certificate chain
    # and key (PEM files); with a CA, chargers may present certificates it signed (profile 3).
    ocpp_tls_cert: str = ""
    ocpp_tls_key: str = ""
    ocpp_tls_client_ca: str = ""
    web_concurrency: int = 2
    # Threads per web process for the requests that wait on PostgreSQL (web/serving/rsgi.py);
    # ingest and /healthz run on the process's event loop. Each thread may hold a database
    # connection.
    web_threads: int = 4
    # Open connections one web process serves at once; more wait in the listen backlog.
    web_max_connections: int = 1000
    # A client's request headers (and a kept-alive connection's next request) must arrive within
    # this; its body, and each piece of a large answer, within BODY_TIMEOUT_SECONDS.
    header_timeout_seconds: int = 10
    body_timeout_seconds: float = 30.0
    worker_concurrency: int = 0  # 0: one per CPU, at most 4 (storage/connections.py)
    data_dir: str = ".data"
    metrics_dir: str = ".data/metrics"  # from the environment: METRICS_DIR, else DATA_DIR/metrics
    # A worker or ocpp process serves METRICS_DIR's samples here too (0: not), for a host with
    # no web process to serve them (web serves /metrics on its own port).
    metrics_port: int = 0

    # Ingest contract
    max_body_bytes: int = 5 * 1024 * 1024
    max_readings_per_request: int = 10_000
    max_future_skew_seconds: int = 300
    retention_days: int = 30
    max_kwh_per_reading: float = 1000.0
    # A register reading's interval is taken against the device's previous reading only when
    # that is at most this much earlier (docs/DESIGN.md, "Registers").
    register_max_gap_seconds: float = 90.0
    max_voltage: float = 2000.0
    battery_temp_min_c: float = -60.0
    battery_temp_max_c: float = 150.0

    # Buffer (Redis stream)
    stream_max_readings: int = 2_000_000
    retry_after_seconds: int = 5
    redis_timeout_seconds: float = 2.0

    # Workers
    batch_max_readings: int = 5_000
    batch_wait_ms: int = 100
    claim_idle_seconds: int = 30
    consumer_gone_seconds: int = 600
    db_retry_max_seconds: float = 30.0
    max_deliveries: int = 5

    # History reads: the longest window one request may ask for, and how long its query may run.
    history_max_days: int = 7
    history_timeout_seconds: float = 10.0

    # Periodic jobs
    refresh_seconds: int = 60
    # Connections a full rebuild of the window (`refresh-performance --full`) builds day
    # partitions on at once; 0: one per CPU of this host, up to four (docs/SCALING.md).
    rebuild_builders: int = 0
    # How long a web process answers a vehicle's 24 h figures from memory before it asks whether
    # a refresh has committed since (web/api/efficiency_cache.py).
    read_cache_seconds: float = 1.0
    # /metrics counts the vehicles charging at an efficiency under this (an alert's input).
    efficiency_alert_below: float = 0.85
    # A vehicle's readings on one meter further apart than this are two charging sessions.
    session_gap_seconds: int = 600
    # A charger whose last this many sessions all charged under EFFICIENCY_ALERT_BELOW is
    # failing (efficiency/alerts.py), judged every CHARGER_CHECK_SECONDS.
    charger_alert_sessions: int = 3
    charger_check_seconds: int = 300
    # A charger offline, or a connector faulted or unavailable, longer than this is counted by
    # /metrics for the EvChargerOffline and EvConnectorDown alerts (devices/availability.py).
    charger_down_alert_seconds: int = 900
    partition_days_ahead: int = 3
    # Day partitions made back (within RETENTION_DAYS) before a late reading needs one; older
    # late readings wait in the default partition until the next maintenance makes their day's.
    # Each day is a partition of every partitioned table, each locked by a query that cannot
    # prune: a long retention should not make a year of empty ones.
    partition_days_back: int = 370
    # Hourly rollups and charging sessions outlive the raw minutes (RETENTION_DAYS) this long.
    rollup_retention_days: int = 1096
    # Days of history older than this are packed, a row of arrays per device and day.
    pack_after_days: int = 2
    maintenance_seconds: int = 3600
    # Beat runs on every host that starts one; the holder of this lease sends the schedule.
    beat_lease_seconds: int = 30

    # Security
    device_tokens: tuple[str, ...] = field(default=())
    analyst_tokens: tuple[str, ...] = field(default=())
    auth_disabled: bool = False
    # How long a web process trusts what it found for a per-device token (a revocation's delay).
    device_token_cache_seconds: float = 30.0
    # Ingest requests a minute per token (web/api/rate_limit.py); 0: no limit.
    device_rate_per_minute: int = 120
    gateway_rate_per_minute: int = 0

    # Logs
    log_level: str = "info"
    log_format: str = "keyvalue"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        d = cls()
        redis_url = _str(e, "REDIS_URL", d.redis_url)
        database_url = sqlalchemy_url(_str(e, "DATABASE_URL", d.database_url))
        sentinels = _host_ports(e, "REDIS_SENTINELS")
        master = _str(e, "REDIS_SENTINEL_MASTER", d.redis_sentinel_master)
        if sentinels and not master:
            raise SettingError("REDIS_SENTINELS is set: REDIS_SENTINEL_MASTER must name the master")
        tls_cert, tls_key = _str(e, "OCPP_TLS_CERT", ""), _str(e, "OCPP_TLS_KEY", "")
        tls_client_ca = _str(e, "OCPP_TLS_CLIENT_CA", "")
        if bool(tls_cert) != bool(tls_key):
            raise SettingError("OCPP_TLS_CERT and OCPP_TLS_KEY go together: set both, or neither")
        if tls_client_ca and not tls_cert:
            raise SettingError("OCPP_TLS_CLIENT_CA needs OCPP_TLS_CERT and OCPP_TLS_KEY (wss://)")
        return cls(
            database_url=database_url,
            database_read_url=sqlalchemy_url(_str(e, "DATABASE_READ_URL", "")),
            database_prepared_statements=_bool(
                e, "DATABASE_PREPARED_STATEMENTS", d.database_prepared_statements
            ),
            redis_url=redis_url,
            redis_sentinels=sentinels,
            redis_sentinel_master=master,
            redis_sentinel_password=_str(e, "REDIS_SENTINEL_PASSWORD", ""),
            redis_replica_acks=_int(e, "REDIS_REPLICA_ACKS", d.redis_replica_acks),
            celery_broker_url=_str(
                e, "CELERY_BROKER_URL", sentinel_broker_url(redis_url, sentinels) or redis_url
            ),
            redis_key_prefix=_str(e, "REDIS_KEY_PREFIX", d.redis_key_prefix),
            celery_queue=_str(e, "CELERY_QUEUE", d.celery_queue),
            host=_str(e, "HOST", d.host),
            port=_int(e, "PORT", d.port, minimum=1),
            web_concurrency=_int(e, "WEB_CONCURRENCY", d.web_concurrency, minimum=1),
            web_threads=_int(e, "WEB_THREADS", d.web_threads, minimum=1),
            web_max_connections=_int(e, "WEB_MAX_CONNECTIONS", d.web_max_connections, minimum=16),
            header_timeout_seconds=_bounded_int(
                e, "HEADER_TIMEOUT_SECONDS", d.header_timeout_seconds, 1, 60
            ),
            body_timeout_seconds=_float(
                e, "BODY_TIMEOUT_SECONDS", d.body_timeout_seconds, minimum=0.1
            ),
            worker_concurrency=_int(e, "WORKER_CONCURRENCY", d.worker_concurrency),
            data_dir=(data_dir := _str(e, "DATA_DIR", d.data_dir)),
            metrics_dir=_str(e, "METRICS_DIR", os.path.join(data_dir, "metrics")),
            max_body_bytes=_int(e, "MAX_BODY_BYTES", d.max_body_bytes, minimum=1024),
            max_readings_per_request=_int(
                e, "MAX_READINGS_PER_REQUEST", d.max_readings_per_request, minimum=1
            ),
            max_future_skew_seconds=_int(e, "MAX_FUTURE_SKEW_SECONDS", d.max_future_skew_seconds),
            retention_days=_int(e, "RETENTION_DAYS", d.retention_days, minimum=2),
            max_kwh_per_reading=_float(e, "MAX_KWH_PER_READING", d.max_kwh_per_reading),
            ocpp_port=_int(e, "OCPP_PORT", d.ocpp_port, minimum=1),
            metrics_port=_int(e, "METRICS_PORT", d.metrics_port),
            ocpp_tls_cert=tls_cert,
            ocpp_tls_key=tls_key,
            ocpp_tls_client_ca=tls_client_ca,
            ocpp_heartbeat_seconds=_int(
                e, "OCPP_HEARTBEAT_SECONDS", d.ocpp_heartbeat_seconds, minimum=1
            ),
            register_max_gap_seconds=_float(
                e, "REGISTER_MAX_GAP_SECONDS", d.register_max_gap_seconds, minimum=1.0
            ),
            max_voltage=_float(e, "MAX_VOLTAGE", d.max_voltage),
            battery_temp_min_c=_float(e, "BATTERY_TEMP_MIN_C", d.battery_temp_min_c, -273.15),
            battery_temp_max_c=_float(e, "BATTERY_TEMP_MAX_C", d.battery_temp_max_c, -273.15),
            stream_max_readings=_int(e, "STREAM_MAX_READINGS", d.stream_max_readings, minimum=1),
            retry_after_seconds=_int(e, "RETRY_AFTER_SECONDS", d.retry_after_seconds, minimum=1),
            redis_timeout_seconds=_float(
                e, "REDIS_TIMEOUT_SECONDS", d.redis_timeout_seconds, minimum=0.1
            ),
            batch_max_readings=_int(e, "BATCH_MAX_READINGS", d.batch_max_readings, minimum=1),
            batch_wait_ms=_int(e, "BATCH_WAIT_MS", d.batch_wait_ms, minimum=1),
            claim_idle_seconds=_int(e, "CLAIM_IDLE_SECONDS", d.claim_idle_seconds, minimum=1),
            consumer_gone_seconds=_int(
                e, "CONSUMER_GONE_SECONDS", d.consumer_gone_seconds, minimum=1
            ),
            db_retry_max_seconds=_float(
                e, "DB_RETRY_MAX_SECONDS", d.db_retry_max_seconds, minimum=0.1
            ),
            max_deliveries=_int(e, "MAX_DELIVERIES", d.max_deliveries, minimum=1),
            history_max_days=_int(e, "HISTORY_MAX_DAYS", d.history_max_days, minimum=1),
            history_timeout_seconds=_float(
                e, "HISTORY_TIMEOUT_SECONDS", d.history_timeout_seconds, minimum=0.1
            ),
            refresh_seconds=_int(e, "REFRESH_SECONDS", d.refresh_seconds, minimum=1),
            rebuild_builders=_int(e, "REBUILD_BUILDERS", d.rebuild_builders),
            read_cache_seconds=_float(e, "READ_CACHE_SECONDS", d.read_cache_seconds),
            efficiency_alert_below=_float(e, "EFFICIENCY_ALERT_BELOW", d.efficiency_alert_below),
            # A minute at least: two sessions of a vehicle on one meter never share a minute.
            session_gap_seconds=_int(e, "SESSION_GAP_SECONDS", d.session_gap_seconds, minimum=60),
            charger_alert_sessions=_int(
                e, "CHARGER_ALERT_SESSIONS", d.charger_alert_sessions, minimum=1
            ),
            charger_check_seconds=_int(
                e, "CHARGER_CHECK_SECONDS", d.charger_check_seconds, minimum=1
            ),
            charger_down_alert_seconds=_int(
                e, "CHARGER_DOWN_ALERT_SECONDS", d.charger_down_alert_seconds, minimum=1
            ),
            partition_days_ahead=_int(e, "PARTITION_DAYS_AHEAD", d.partition_days_ahead),
            partition_days_back=_int(e, "PARTITION_DAYS_BACK", d.partition_days_back),
            rollup_retention_days=_int(
                e, "ROLLUP_RETENTION_DAYS", d.rollup_retention_days, minimum=1
            ),
            pack_after_days=_int(e, "PACK_AFTER_DAYS", d.pack_after_days, minimum=1),
            maintenance_seconds=_int(e, "MAINTENANCE_SECONDS", d.maintenance_seconds, minimum=1),
            beat_lease_seconds=_int(e, "BEAT_LEASE_SECONDS", d.beat_lease_seconds, minimum=3),
            device_tokens=_list(e, "DEVICE_TOKENS"),
            analyst_tokens=_list(e, "ANALYST_TOKENS"),
            auth_disabled=_bool(e, "AUTH_DISABLED", d.auth_disabled),
            device_token_cache_seconds=_float(
                e, "DEVICE_TOKEN_CACHE_SECONDS", d.device_token_cache_seconds
            ),
            device_rate_per_minute=_int(e, "DEVICE_RATE_PER_MINUTE", d.device_rate_per_minute),
            gateway_rate_per_minute=_int(e, "GATEWAY_RATE_PER_MINUTE", d.gateway_rate_per_minute),
            log_level=_choice(e, "LOG_LEVEL", d.log_level, ("debug", "info", "warning", "error")),
            log_format=_choice(e, "LOG_FORMAT", d.log_format, ("keyvalue", "json")),
        )

    @property
    def builders(self) -> int:
        """REBUILD_BUILDERS, else one per CPU up to four: the rebuild's work is CPU-bound in
        PostgreSQL, usually on a box of the same size (docs/SCALING.md)."""
        return self.rebuild_builders or min(os.cpu_count() or 1, 4)

    @property
    def worker_processes(self) -> int:
        """WORKER_CONCURRENCY, else one per CPU up to four (docs/SCALING.md, "Connections")."""
        return self.worker_concurrency or min(os.cpu_count() or 1, 4)

    @property
    def ocpp_silence(self) -> timedelta:
        """How long a charger may say nothing and still count as connected: two heartbeat
        intervals (docs/DESIGN.md, "Chargers")."""
        return timedelta(seconds=2 * self.ocpp_heartbeat_seconds)

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)


@cache
def get_settings() -> Settings:
    return Settings.from_env()

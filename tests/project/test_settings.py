"""Settings: typed parsing of the environment, laptop defaults, clear errors."""

from __future__ import annotations

import pytest

from settings import SettingError, Settings


def test_defaults_work_without_any_variable():
    s = Settings.from_env({})
    assert s.database_url.startswith("postgresql+psycopg2://")
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.celery_broker_url == s.redis_url
    assert s.port == 8000
    assert s.max_body_bytes == 5 * 1024 * 1024
    assert s.max_readings_per_request == 10_000
    assert s.max_future_skew_seconds == 300
    assert s.refresh_seconds == 60
    assert s.retention_days == 30


def test_values_are_parsed_by_type():
    s = Settings.from_env(
        {
            "PORT": "9000",
            "BATCH_MAX_READINGS": "250",
            "MAX_KWH_PER_READING": "12.5",
            "AUTH_DISABLED": "yes",
            "DEVICE_TOKENS": " a, b ,,c ",
            "LOG_FORMAT": "JSON",
        }
    )
    assert s.port == 9000
    assert s.batch_max_readings == 250
    assert s.max_kwh_per_reading == 12.5
    assert s.auth_disabled is True
    assert s.device_tokens == ("a", "b", "c")
    assert s.log_format == "json"


def test_postgres_urls_get_the_psycopg2_driver():
    for given in ("postgres://u@h/db", "postgresql://u@h/db"):
        assert Settings.from_env({"DATABASE_URL": given}).database_url == (
            "postgresql+psycopg2://u@h/db"
        )


def test_broker_may_be_split_from_the_stream_redis():
    s = Settings.from_env({"REDIS_URL": "redis://a/0", "CELERY_BROKER_URL": "redis://b/1"})
    assert (s.redis_url, s.celery_broker_url) == ("redis://a/0", "redis://b/1")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT='eighty' is not a valid int"),
        ("PORT", "0", "PORT='0' must be at least 1"),
        ("AUTH_DISABLED", "maybe", "AUTH_DISABLED='maybe' is not a boolean"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' must be one of keyvalue, json"),
        ("MAX_KWH_PER_READING", "lots", "MAX_KWH_PER_READING='lots' is not a valid float"),
    ],
)
def test_bad_values_fail_naming_the_variable(name, value, message):
    with pytest.raises(SettingError, match=message):
        Settings.from_env({name: value})


def test_sentinels_name_the_stream_and_broker_server():
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://:pw@ignored:6379/2",
            "REDIS_SENTINELS": "10.0.0.1:26379, [fd00::3]:26380",
            "REDIS_SENTINEL_MASTER": "ev",
            "REDIS_SENTINEL_PASSWORD": "sentinel-secret",
            "REDIS_REPLICA_ACKS": "1",
        }
    )
    assert s.redis_sentinels == (("10.0.0.1", 26379), ("fd00::3", 26380))
    assert s.redis_sentinel_master == "ev"
    assert s.redis_replica_acks == 1
    # Kombu's sentinel transport, with REDIS_URL's password and database.
    assert s.celery_broker_url == (
        "sentinel://:pw@10.0.0.1:26379/2;sentinel://:pw@[fd00::3]:26380/2"
    )


def test_an_explicit_broker_wins_over_the_sentinels():
    s = Settings.from_env(
        {
            "REDIS_SENTINELS": "a:26379",
            "REDIS_SENTINEL_MASTER": "ev",
            "CELERY_BROKER_URL": "amqp://broker//",
        }
    )
    assert s.celery_broker_url == "amqp://broker//"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_SENTINELS": "a:26379"}, "REDIS_SENTINEL_MASTER must name the master"),
        ({"REDIS_SENTINELS": "a", "REDIS_SENTINEL_MASTER": "ev"}, "'a' is not host:port"),
        ({"REDIS_SENTINELS": "a:0", "REDIS_SENTINEL_MASTER": "ev"}, "'a:0' is not host:port"),
        ({"REDIS_REPLICA_ACKS": "-1"}, "REDIS_REPLICA_ACKS='-1' must be at least 0"),
        ({"BEAT_LEASE_SECONDS": "1"}, "BEAT_LEASE_SECONDS='1' must be at least 3"),
    ],
)
def test_bad_redis_topology_fails_naming_the_variable(env, message):
    with pytest.raises(SettingError, match=message):
        Settings.from_env(env)


def test_reads_use_the_primary_unless_a_read_url_is_given():
    s = Settings.from_env({"DATABASE_URL": "postgres://u@primary/ev"})
    assert s.database_read_url == ""  # make_reader then uses DATABASE_URL
    assert s.database_prepared_statements is True
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgres://u@primary/ev",
            "DATABASE_READ_URL": "postgres://u@replica/ev",
            "DATABASE_PREPARED_STATEMENTS": "false",
        }
    )
    assert s.database_read_url == "postgresql+psycopg2://u@replica/ev"
    assert s.database_prepared_statements is False


def test_the_rebuild_works_on_one_connection_per_cpu_up_to_four_unless_told(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Settings.from_env({}).builders == 2
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert Settings.from_env({}).builders == 4
    assert Settings.from_env({"REBUILD_BUILDERS": "6"}).builders == 6

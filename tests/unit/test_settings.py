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


def test_public_view_masks_secrets():
    s = Settings.from_env(
        {"DATABASE_URL": "postgresql://ev:hunter2@db/ev", "ANALYST_TOKENS": "secret1,secret2"}
    )
    shown = str(s.public())
    assert "hunter2" not in shown
    assert "secret1" not in shown
    assert "<2 tokens>" in shown

"""The alerting rules: valid for Prometheus, firing as their tests say, and built only on series
this service's /metrics really exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.support import seed
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN, ROOT
from tests.support.factories import meter
from web import create_app

MONITORING = ROOT / "monitoring"


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: `make system-tools` installs Debian's prometheus"
    done = subprocess.run([binary, *args], cwd=MONITORING, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.system
def test_the_rules_are_valid_and_pass_their_own_tests():
    assert "SUCCESS: 11 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def exported(client) -> str:
    return client.get("/metrics").get_data(as_text=True)


def test_every_series_the_rules_use_is_exported(settings, seeded):
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {name for rule in rules for name in re.findall(r"\bev_[a-z_]+", rule["expr"])}
    assert len(names) >= 6
    client = create_app(settings).test_client()
    client.get("/healthz")  # a request timed, so the request histogram has samples
    body = exported(client)
    for name in names:
        assert re.search(rf"^{name}(\{{.*\}})? ", body, re.MULTILINE), name


def gauge(body: str, name: str) -> float:
    (value,) = re.findall(rf"^{name} (\S+)$", body, re.MULTILINE)
    return float(value)


def test_vehicles_under_the_threshold_are_counted(settings, seeded):
    efficiencies = [float(str(v["chargingEfficiency"])) for v in seed.EXPECTED.values()]
    threshold = sorted(efficiencies)[len(efficiencies) // 2] + 1e-9
    client = create_app(settings.replace(efficiency_alert_below=threshold)).test_client()
    body = exported(client)
    expected = len([e for e in efficiencies if e < threshold])
    assert gauge(body, "ev_performance_vehicles_below_threshold") == expected
    assert gauge(body, "ev_performance_vehicles") == len(efficiencies)
    assert gauge(body, "ev_stream_backlog_limit_readings") == settings.stream_max_readings


@pytest.mark.usefixtures("stream")
def test_requests_are_timed_by_route_and_status(settings, clean_db):
    client = create_app(settings).test_client()
    device = {"Authorization": f"Bearer {DEVICE_TOKEN}"}
    assert client.post("/v1/ingest", json=meter(), headers=device).status_code == 202
    reads = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
    assert client.get("/v1/vehicles/no-such", headers=reads).status_code == 404
    client.get("/made/up/path/12345")
    body = exported(client)
    for labels in (
        'endpoint="/v1/ingest",method="POST",status="202"',
        'endpoint="/v1/vehicles/<vehicle_id>",method="GET",status="404"',
        'endpoint="unmatched",method="GET",status="404"',
    ):
        assert f"ev_http_request_duration_seconds_count{{{labels}}}" in body, labels
    assert "/made/up/path" not in body, "a made-up path adds no series"

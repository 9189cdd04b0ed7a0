"""The monitoring profile: Prometheus's configuration is valid and scrapes the web service
compose runs, Grafana is provisioned with the service's dashboard from the files compose mounts,
and the dashboard and the alert rules use only series the service declares. (Prometheus itself
against the real processes: tests/e2e/test_prometheus.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.compose import compose
from tests.support.constants import ROOT

MONITORING = ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "ev.json"


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def rule_exprs() -> list[str]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def series(exprs: list[str]) -> set[str]:
    """The series an expression reads (a histogram's by its _bucket, _count or _sum)."""
    return {name for expr in exprs for name in re.findall(r"\b(ev_[a-z_]+|up)\b", expr)}


@pytest.mark.system
def test_prometheus_accepts_the_configuration_with_its_rules():
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `make system-tools` installs Debian's prometheus"
    done = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 11 rules found" in done.stdout


def test_the_profile_runs_prometheus_on_every_container_and_grafana_on_its_files():
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
    mounts = {v.split(":")[0]: v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert mounts["./monitoring/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./monitoring/alerts.yml"] == "/etc/prometheus/alerts.yml"
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    # One target per container of each service that keeps samples, at the port it serves them.
    scraped = {}
    for job in config["scrape_configs"]:
        (lookup,) = job["dns_sd_configs"]
        (name,) = lookup["names"]
        scraped[name] = (job["job_name"], lookup["port"])
    assert scraped == {
        "web": ("ev", 8000),
        "worker": ("ev-worker", 9100),
        "ocpp": ("ev-ocpp", 9100),
    }
    assert "8000" in [str(port) for port in services["web"]["expose"]]
    for name in ("worker", "ocpp"):
        assert services[name]["environment"]["METRICS_PORT"] == "9100", name
        assert "9100" in [str(port) for port in services[name]["expose"]], name

    grafana = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"]}
    provisioning = ROOT / "monitoring" / "grafana" / "provisioning"
    assert grafana["./monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((provisioning / "dashboards" / "ev.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == grafana["./monitoring/grafana/dashboards"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_the_dashboard_shows_what_operators_look_at():
    used = series(dashboard_exprs())
    for needed in (
        "ev_readings_accepted_total",  # ingest rate by kind
        "ev_readings_rejected_total",  # rejections
        "ev_stream_backlog_readings",  # backlog
        "ev_consumer_lag_seconds",  # lag
        "ev_batch_commit_seconds_bucket",  # batch commit latency
        "ev_performance_age_seconds",  # refresh age
        "ev_performance_efficiency_devices",  # the efficiency distribution
        "ev_http_request_duration_seconds_bucket",  # HTTP latency
        "ev_http_request_duration_seconds_count",  # the 5xx ratio
    ):
        assert needed in used, needed


def test_every_series_of_the_dashboard_and_the_rules_is_one_the_service_declares():
    monitoring = ROOT / "web" / "api" / "monitoring.py"
    declared = (ROOT / "metrics.py").read_text() + monitoring.read_text()
    for name in series(dashboard_exprs() + rule_exprs()) - {"up"}:
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        assert f'"{base}"' in declared, name

"""Debian's Prometheus scraping the real processes as compose runs them, each in a "container" of
its own (a METRICS_DIR of its own; the worker and ocpp serve theirs on METRICS_PORT): every
series the Grafana dashboard and the alert rules use is scraped, the rules evaluate without
error, and each process's samples are counted once."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from tests.support.constants import ROOT
from tests.support.factories import meter, vehicle
from tests.support.helpers import listening, stored_readings, wait_until
from tools.local import free_port

MONITORING = ROOT / "monitoring"
pytestmark = pytest.mark.system


def used_series() -> set[str]:
    panels = json.loads((MONITORING / "grafana" / "dashboards" / "ev.json").read_text())["panels"]
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    exprs = [t["expr"] for p in panels for t in p["targets"]] + [r["expr"] for r in rules]
    return {name for expr in exprs for name in re.findall(r"\b(ev_[a-z_]+|up)\b", expr)}


def query(port: int, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as reply:
        return list(json.load(reply)["data"]["result"])


@pytest.fixture
def prometheus(tmp_path):
    binary = shutil.which("prometheus")
    assert binary, "prometheus missing: `make system-tools` installs Debian's"
    processes = []

    def start(targets: dict[str, str]) -> int:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
        port = free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=log,
            )
        )
        wait_until(lambda: _answers(port), 30, "Prometheus to answer")
        return port

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def test_every_series_of_the_dashboard_and_rules_is_scraped_from_the_real_processes(
    service, clean_db, prometheus, tmp_path
):
    # Each process a container: its own METRICS_DIR, as docker-compose.yml's tmpfs gives it.
    targets = {"ev": f"127.0.0.1:{service.env['PORT']}"}
    for name in ("web", "beat", "worker", "ocpp"):
        service.env["METRICS_DIR"] = str(tmp_path / f"{name}-metrics")
        if name in ("worker", "ocpp"):
            service.env["METRICS_PORT"] = str(free_port())
            targets[f"ev-{name}"] = f"127.0.0.1:{service.env['METRICS_PORT']}"
        if name == "ocpp":
            service.env["OCPP_PORT"] = str(free_port())
        service.start(name)
    wait_until(lambda: listening(int(service.env["OCPP_PORT"])), 30, "ocpp to listen")

    port = prometheus(targets)
    when = datetime.now(UTC).replace(second=10, microsecond=0) - timedelta(minutes=2)
    body = [meter("PM1", when), vehicle("PV1", "PM1", when + timedelta(seconds=5))]
    body.append(meter("PM2", when, kwh=-1))  # one rejection
    assert service.post(body).status == 202
    wait_until(lambda: stored_readings(clean_db) == 2, 60, "the worker to store the readings")
    service.flask("refresh-performance")
    assert service.get("/v1/analytics/performance/PV1").status == 200

    wanted = used_series()
    assert len(wanted) >= 15

    def missing() -> set[str]:
        return {name for name in wanted if not query(port, f"count({name})")}

    deadline = time.monotonic() + 60
    while missing() and time.monotonic() < deadline:
        time.sleep(1)
    assert missing() == set()

    # Each process's samples come from its own container's target only: counted once (other
    # containers may export the same counter at zero: they import the same definitions).
    def by_job(series: str) -> list[tuple[str, float]]:
        found = query(port, f"sum by (job) ({series}) > 0")
        return [(f["metric"]["job"], float(f["value"][1])) for f in found]

    assert by_job("ev_readings_written_total") == [("ev-worker", 2.0)]
    assert by_job("ev_readings_accepted_total") == [("ev", 2.0)]
    assert by_job("ev_batch_readings_count") == [
        ("ev-worker", by_job("ev_batch_readings_count")[0][1])
    ]
    assert {(f["metric"]["job"], f["value"][1]) for f in query(port, "up")} == {
        ("ev", "1"),
        ("ev-worker", "1"),
        ("ev-ocpp", "1"),
    }
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as reply:
        groups = json.load(reply)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    # Every rule of the file loaded (a hand-kept count went stale as rules were added).
    declared = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    assert [rule["name"] for rule in rules] == [rule["alert"] for rule in declared]
    assert {rule["health"] for rule in rules} == {"ok"}, [r for r in rules if r["health"] != "ok"]

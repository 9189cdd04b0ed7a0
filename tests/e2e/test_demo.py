"""`make demo`: the service and the simulator together; the dashboard's data fills in by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import orjson
import urllib3

from tests.support.constants import ANALYST_TOKEN, ROOT
from tests.support.helpers import wait_until


def test_demo_serves_a_simulated_fleet_and_prints_the_dashboard_url(
    service_env, clean_db, tmp_path
):
    env = {**service_env, "DATA_DIR": str(tmp_path / "demo-data"), "REFRESH_SECONDS": "3"}
    output = tmp_path / "demo.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.local", "demo"],
        cwd=ROOT,
        env=env,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    http = urllib3.PoolManager(retries=False, timeout=10)
    url = f"http://127.0.0.1:{env['PORT']}"

    def fleet() -> list:
        try:
            reply = http.request(
                "GET",
                url + "/v1/analytics/performance?limit=1000",
                headers={"Authorization": f"Bearer {ANALYST_TOKEN}"},
            )
        except urllib3.exceptions.HTTPError:
            return []
        return orjson.loads(reply.data).get("items", []) if reply.status == 200 else []

    try:
        wait_until(lambda: "/dashboard#token=" in output.read_text(), 60, "the dashboard URL")
        assert f"{url}/dashboard#token={ANALYST_TOKEN}" in output.read_text()
        wait_until(lambda: len(fleet()) >= 10, 120, "the simulated fleet in the analytics")
        assert http.request("GET", url + "/dashboard").status == 200
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

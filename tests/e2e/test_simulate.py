"""The device simulator against the running service: what it says each vehicle should get is
what the service serves after a refresh."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.support.helpers import listening, stored_readings, wait_until
from tools.local import free_port


def test_simulated_fleet_gets_the_efficiencies_the_simulator_predicts(service, clean_db, tmp_path):
    service.start("web")
    service.start("worker")
    expected_file = tmp_path / "expected.json"
    run = service.simulator(
        "--meters", "6", "--vehicles", "8", "--minutes", "90", "--batch", "50",
        "--target", service.url, "--expected-out", str(expected_file),
    )  # fmt: skip
    assert "accepted" in run.stderr
    assert "What the service should report" in run.stdout
    expected = orjson.loads(expected_file.read_bytes())
    assert len(expected) >= 4  # most vehicles charged on a meter of their own at some point

    summary = re.search(r"sent (\d+) readings: (\d+) accepted", run.stderr)
    assert summary, run.stderr[-2000:]
    sent, accepted = int(summary[1]), int(summary[2])
    assert accepted == sent  # the simulator's readings are all valid
    wait_until(lambda: stored_readings(clean_db) > 0, what="the worker to start writing")
    wait_until(lambda: service_backlog_empty(service), 60, "the stream to drain")
    assert stored_readings(clean_db) <= accepted  # duplicates the devices resent are stored once
    service.flask("refresh-performance")

    for vehicle_id, figures in expected.items():
        served = orjson.loads(service.get(f"/v1/analytics/performance/{vehicle_id}").data)
        for key, value in figures.items():
            assert served[key] == pytest.approx(value, abs=1e-9), (vehicle_id, key)


def assert_serves(service, expected: dict) -> None:
    """After a refresh, the API serves each vehicle the figures the simulator printed."""
    service.flask("refresh-performance")
    for vehicle_id, figures in expected.items():
        served = orjson.loads(service.get(f"/v1/analytics/performance/{vehicle_id}").data)
        for key, value in figures.items():
            assert served[key] == pytest.approx(value, abs=1e-9), (vehicle_id, key)


def service_backlog_empty(service) -> bool:
    reply = service.http.request("GET", service.url + "/metrics").data.decode()
    line = next(x for x in reply.splitlines() if x.startswith("ev_stream_backlog_readings "))
    return float(line.split()[-1]) == 0


@pytest.fixture
def with_chargers(service) -> int:
    """web, worker and ocpp running; the ocpp process's port."""
    port = free_port()
    service.env["OCPP_PORT"] = str(port)
    service.start("web")
    service.start("worker")
    service.start("ocpp")
    wait_until(lambda: listening(port), what="ocpp to listen")
    return port


def test_a_fleet_whose_meters_speak_ocpp_gets_the_register_rules_figures(
    service, with_chargers, clean_db, tmp_path
):
    port = with_chargers
    expected_file = tmp_path / "expected.json"
    run = service.simulator(
        "--ocpp", "--meters", "4", "--vehicles", "5", "--minutes", "60", "--batch", "50",
        "--target", service.url, "--ocpp-target", f"ws://127.0.0.1:{port}/ocpp",
        "--expected-out", str(expected_file),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    confirmed = re.search(r"chargers: (\d+) of (\d+) MeterValues confirmed", run.stderr)
    assert confirmed, run.stderr[-2000:]
    assert confirmed[1] == confirmed[2]
    expected = orjson.loads(expected_file.read_bytes())
    assert len(expected) >= 2

    wait_until(lambda: stored_readings(clean_db) > 0, what="the worker to start writing")
    wait_until(lambda: service_backlog_empty(service), 60, "the stream to drain")
    assert_serves(service, expected)


def test_a_rerun_goes_on_with_the_fleet_and_never_counts_a_minute_twice(
    service, with_chargers, clean_db, tmp_path
):
    """Two runs of `--ocpp` five minutes apart, each on the service's own ports (PORT and
    OCPP_PORT from the environment, as `make simulate` gives them): the second sends only the
    new minutes, and the service serves what the second run says (both runs' readings)."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    runs: list[tuple[int, dict, str]] = []
    for until in (end, end + timedelta(minutes=5)):
        expected_file = tmp_path / f"expected-{len(runs)}.json"
        run = service.simulator(
            "--ocpp", "--meters", "4", "--vehicles", "5", "--minutes", "60", "--batch", "50",
            "--until", until.isoformat(), "--expected-out", str(expected_file),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        sent = re.search(r"sent (\d+) readings", run.stderr)
        assert sent, run.stderr[-2000:]
        runs.append((int(sent[1]), orjson.loads(expected_file.read_bytes()), run.stderr))
    (first, _, _), (second, expected, said) = runs
    assert "going on with the fleet sent since" in said
    assert 0 < second < first / 5, "only the five new minutes (and late flushes) are sent"

    wait_until(lambda: service_backlog_empty(service), 60, "the stream to drain")
    assert_serves(service, expected)

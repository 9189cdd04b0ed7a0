"""A second service on a port the first listens on refuses to start, naming the holder: `make
run`, and the Procfile's web and ocpp processes (Granian's SO_REUSEPORT would otherwise let two
web services share a port, and requests alternate between them)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.constants import ROOT
from tests.support.helpers import listening, wait_until
from tools.local import free_port
from tools.stack import procfile


def _second(service, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=service.env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_a_second_service_on_a_taken_port_refuses_naming_the_holder(service):
    service.env["OCPP_PORT"] = str(free_port())
    web = service.processes.get("web") or service.start("web")
    ocpp = service.start("ocpp")
    port, ocpp_port = service.env["PORT"], service.env["OCPP_PORT"]
    wait_until(lambda: listening(int(ocpp_port)), what="ocpp to listen")

    second_web = _second(service, "-m", "web.serving.serve")
    assert second_web.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use by pid" in second_web.stderr
    assert "web.serving.serve" in second_web.stderr or "granian" in second_web.stderr.lower()

    second_ocpp = _second(service, *procfile()["ocpp"][1:])
    assert second_ocpp.returncode == 1
    assert f"pid {ocpp.pid} (" in second_ocpp.stderr

    second_run = _second(service, "-m", "tools.local", "serve")
    assert second_run.returncode == 1
    assert "make run refuses to start" in second_run.stderr
    assert f"port {port}" in second_run.stderr
    # The first service still answers: nothing of it was touched.
    assert web.poll() is None
    assert service.ready()

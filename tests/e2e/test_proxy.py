"""The nginx that docker-compose.yml puts in front of web, run here from Debian's nginx with the
template and the environment compose gives it, in front of the Procfile's web process."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import urllib3

from tests.support.compose import compose
from tests.support.constants import DEVICE_TOKEN, ROOT
from tests.support.factories import meter
from tools.local import free_port
from tools.stack import wait_until

pytestmark = pytest.mark.system

NGINX = "/usr/sbin/nginx"
TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"
# Small, so the test sends past them quickly; web gets the same (compose passes both the same).
LIMITS = {"MAX_BODY_BYTES": "4096", "HEADER_TIMEOUT_SECONDS": "2", "BODY_TIMEOUT_SECONDS": "2"}


def compose_proxy_environment() -> dict[str, str]:
    """The proxy's environment as compose sets it, `${NAME:-default}` taken from LIMITS."""
    out = {}
    for name, value in compose()["services"]["proxy"]["environment"].items():
        match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", str(value))
        out[name] = LIMITS.get(match[1], match[2]) if match else str(value)
    return out


def render(environment: dict[str, str]) -> str:
    """What the nginx image's entrypoint does with a template: ${NAME} of defined variables."""
    return re.sub(r"\$\{(\w+)\}", lambda m: environment.get(m[1], m[0]), TEMPLATE.read_text())


def test_the_template_uses_only_what_compose_gives_the_proxy():
    environment = compose_proxy_environment()
    used = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))
    assert used == set(environment)
    assert set(LIMITS) <= used, "the proxy's limits are the service's settings"
    declared = compose()
    app, proxy = declared["x-app"]["environment"], declared["services"]["proxy"]["environment"]
    for name in LIMITS:
        assert app[name] == proxy[name], name


@pytest.fixture
def proxy(service) -> Iterator[str]:
    if not os.path.exists(NGINX):
        pytest.skip("needs Debian's nginx (make system-tools installs it)")
    for name, value in LIMITS.items():
        service.env[name] = value
    service.start("web")
    port = free_port()
    environment = {**compose_proxy_environment(), "WEB_ADDRESS": f"127.0.0.1:{service.env['PORT']}"}
    site = render(environment).replace("listen 8080;", f"listen 127.0.0.1:{port};")
    directory = Path(tempfile.mkdtemp(prefix="ev-nginx-"))
    (directory / "site.conf").write_text(site)
    (directory / "nginx.conf").write_text(
        f"daemon off; worker_processes 1; user root; pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log info;\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {directory}/body; "
        f"proxy_temp_path {directory}/proxy; include {directory}/site.conf; }}\n"
    )
    nginx = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")],
        stderr=subprocess.PIPE,
    )
    wait_until(lambda: _open(port), 10, "nginx to listen")
    yield f"http://127.0.0.1:{port}"
    nginx.terminate()
    nginx.wait(10)
    shutil.rmtree(directory, ignore_errors=True)


def _open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def _post(url: str, body: bytes) -> urllib3.BaseHTTPResponse:
    return urllib3.request(
        "POST",
        url + "/v1/ingest",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {DEVICE_TOKEN}"},
        retries=False,
        timeout=10,
    )


def test_the_proxy_passes_readings_and_answers_its_own_refusals_in_the_services_shape(
    service, proxy
):
    ok = _post(proxy, orjson.dumps(meter("P1")))
    assert ok.status == 202
    assert orjson.loads(ok.data)["accepted"] == 1

    too_large = _post(proxy, b"[" + b" " * 5000 + b"]")
    assert too_large.status == 413
    assert orjson.loads(too_large.data)["error"] == "body_too_large"

    # A stalled upload is cut by the proxy at BODY_TIMEOUT_SECONDS (nginx closes the connection
    # without a word); web never sees it.
    port = int(proxy.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.sendall(
            b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {DEVICE_TOKEN}\r\nContent-Length: 1000\r\n\r\n[".encode()
        )
        started = time.monotonic()
        stalled.settimeout(15)
        reply = b""
        while chunk := stalled.recv(4096):
            reply += chunk
    assert time.monotonic() - started < 10
    assert reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply[:100]
    assert service.log("web").count("path=/v1/ingest") == 1, "only the reading that was whole"

    service.stop("web")
    down = _post(proxy, orjson.dumps(meter("P1")))
    assert down.status == 503
    assert down.headers["Retry-After"].isdigit()
    assert orjson.loads(down.data)["error"] == "unavailable"

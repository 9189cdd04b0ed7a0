"""docker-compose.yml, checked without a Docker engine: it parses, has every service, and runs
exactly the Procfile's commands."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from settings import WEB_GRACEFUL_SECONDS
from tests.support.compose import compose, dockerfile, procfile
from tests.support.constants import ROOT


def test_compose_lists_the_services():
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "ocpp"} <= set(services)


def test_compose_runs_the_procfile_commands():
    services = compose()["services"]
    for name, command in procfile().items():
        assert shlex.split(services[name]["command"]) == shlex.split(command), name


def test_procfile_has_web_worker_beat_and_ocpp():
    assert set(procfile()) == {"web", "worker", "beat", "ocpp"}


def test_databases_are_not_published_beyond_loopback():
    services = compose()["services"]
    for name in ("postgres", "redis"):
        for port in services[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert all(str(p).startswith("127.0.0.1:") for p in services["proxy"]["ports"])
    assert "ports" not in services["web"], "clients reach web through the proxy"


def test_redis_keeps_an_append_only_file_synced_every_second():
    command = compose()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"


def test_app_services_wait_for_migrations_and_scale():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert "container_name" not in services["worker"], "a fixed name would prevent --scale"


def test_flower_is_optional_and_watches_the_service_broker_from_its_own_image():
    services = compose()["services"]
    flower = services["flower"]
    assert flower["profiles"] == ["flower"]  # not started by a plain `docker compose up`
    assert flower["image"].startswith("mher/flower:"), "our image carries only the service"
    assert flower["command"][:2] == ["celery", "flower"]
    assert (
        flower["environment"]["CELERY_BROKER_URL"] == "${CELERY_BROKER_URL:-redis://redis:6379/0}"
    )
    assert all(str(p).startswith("127.0.0.1:") for p in flower["ports"])


def test_services_have_healthchecks_where_others_wait_on_them():
    services = compose()["services"]
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    # The worker and beat are checked by workers/health.py (tests/e2e/test_health_checks.py).
    for name in ("worker", "beat"):
        assert services[name]["healthcheck"]["test"][2:] == ["-m", "workers.health", name]


def test_each_app_container_keeps_its_samples_on_a_tmpfs_of_its_own_the_image_user_owns():
    """prometheus_client's multiprocess mode: a directory per container, empty at its start."""
    env, user, runs = dockerfile()
    services = compose()["services"]
    made_user = re.search(r"useradd .*--uid (\d+)", runs)
    assert made_user, "the image makes its user with a fixed uid"
    uid = made_user[1]
    for name in ("web", "worker", "beat", "ocpp", "migrate"):
        assert "METRICS_DIR" not in services[name]["environment"], "the image's is the tmpfs"
        assert not services[name].get("volumes"), "no directory shared between containers"
    for name in ("web", "worker", "beat", "ocpp"):
        (mount,) = services[name]["tmpfs"]
        path, _, options = mount.partition(":")
        assert path == env["METRICS_DIR"], name
        assert f"uid={uid}" in options.split(","), name
    assert "metrics" not in compose()["volumes"]
    assert user not in ("root", "nobody", "0"), "its own unprivileged user"
    made = re.search(rf"install -d -o {user} -g {user} ([^&\n]+)", runs)
    assert made, "the image makes the directories it writes, owned by its user"
    assert {env["DATA_DIR"], env["METRICS_DIR"]} <= set(made[1].split())


def test_every_setting_is_documented_and_the_topology_ones_reach_compose():
    names = set(re.findall(r'\(\s*e,\s*"([A-Z_]+)"', (ROOT / "settings.py").read_text()))
    readme = (ROOT / "README.md").read_text()
    assert {n for n in names if f"`{n}`" not in readme} == set()
    environment = compose()["x-app"]["environment"]
    topology = {
        "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD",
        "REDIS_REPLICA_ACKS", "DATABASE_READ_URL", "DATABASE_PREPARED_STATEMENTS",
        "BEAT_LEASE_SECONDS",
    }  # fmt: skip
    assert topology <= names
    assert topology <= set(environment)


def test_every_setting_reaches_the_containers_and_env_example_lists_it():
    names = set(re.findall(r'\(\s*e,\s*"([A-Z_]+)"', (ROOT / "settings.py").read_text()))
    # The compose file's own: its services' addresses and the image's directories.
    own = {"HOST", "PORT", "DATA_DIR", "METRICS_DIR", "OCPP_PORT"}
    environment = compose()["x-app"]["environment"]
    assert names - own - set(environment) == set()
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", example, re.MULTILINE))
    assert names - listed == set()
    # Every passed-through setting is empty unless set: the app's own default then applies.
    for name in names - own - {"DATABASE_URL", "REDIS_URL", "ANALYST_TOKENS"}:
        assert re.fullmatch(rf"\$\{{{name}:-[^}}]*\}}", str(environment[name])), name


def test_docker_waits_longer_than_each_process_takes_to_stop():
    services = compose()["services"]

    def seconds(name: str) -> int:
        return int(str(services[name]["stop_grace_period"]).rstrip("s"))

    assert seconds("web") > WEB_GRACEFUL_SECONDS
    assert seconds("worker") > 30  # a batch committed and acknowledged
    assert {"beat", "ocpp"} <= {name for name in services if "stop_grace_period" in services[name]}


@pytest.mark.system
def test_docker_compose_renders_it_with_the_settings_given(tmp_path):
    """Compose itself (Debian's docker-compose; no engine needed to render) reads the file with
    both profiles, fills each setting from the environment or `.env`, and refuses to start
    without the analysts' tokens."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose missing: `make system-tools` installs Debian's"
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "docker-compose.yml", project)
    (project / ".env").write_text("ANALYST_TOKENS=an-analyst\nRETENTION_DAYS=45\n")
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    command = [binary, "--profile", "monitoring", "--profile", "flower", "config"]
    done = subprocess.run(
        command, cwd=project, env={**base, "LOG_FORMAT": "json"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)["services"]
    assert {"web", "worker", "beat", "ocpp", "prometheus", "grafana", "flower"} <= set(rendered)
    web = rendered["web"]["environment"]
    assert (web["RETENTION_DAYS"], web["LOG_FORMAT"], web["ANALYST_TOKENS"]) == (
        "45",
        "json",
        "an-analyst",
    )
    worker = rendered["worker"]["command"]
    assert (worker if isinstance(worker, str) else shlex.join(worker)) == procfile()["worker"]

    (project / ".env").write_text("")
    refused = subprocess.run(command, cwd=project, env=base, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "set ANALYST_TOKENS" in refused.stderr

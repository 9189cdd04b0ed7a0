"""The Dockerfile builds a runtime image: the Procfile's processes and only what they run.

Checked without a Docker engine: what it copies and installs, read from the files. That those
files and packages are enough to run every service is tests/e2e/test_compose_run.py's part.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.compose import copied, dockerfile, dockerfile_instructions, procfile
from tests.support.constants import MODULES, PACKAGES, ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _locked(path: str) -> set[str]:
    text = (ROOT / path).read_text()
    return {canonicalize_name(m) for m in re.findall(r"^([A-Za-z0-9._-]+)==", text, re.MULTILINE)}


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_the_image_copies_the_runtime_code_and_nothing_for_development():
    sources = copied()
    assert "." not in sources, "COPY . . would bring the tests, the bench and the dev lock"
    for unwanted in ("tests", "bench", "simulator", "examples", "tools", "requirements-dev.txt"):
        assert unwanted not in sources, unwanted
    # Every first-party top-level module the Procfile's processes are made of.
    assert set(PACKAGES) | {"migrations", "alembic.ini"} <= set(sources)
    assert {f"{module}.py" for module in MODULES} <= set(sources)


def test_the_image_installs_the_runtime_lock_by_hash():
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    assert any(
        "pip install" in run and "--require-hashes -r requirements.txt" in run for run in runs
    )
    assert not any("requirements-dev" in run for run in runs)


def test_the_runtime_lock_holds_no_test_bench_or_simulator_package():
    runtime = _locked("requirements.txt")
    assert _names(PROJECT["dependencies"]) <= runtime
    optional = set().union(*(_names(r) for r in PROJECT["optional-dependencies"].values()))
    only_optional = optional - _names(PROJECT["dependencies"]) - {"ev-telemetry"}
    assert {"pytest", "hypothesis", "rich", "urllib3", "pgserver", "gunicorn", "flower"} <= (
        only_optional
    )
    assert runtime & only_optional == set()
    # And the checkout's lock has every extra, so `make install` runs the tests and the bench.
    assert only_optional <= _locked("requirements-dev.txt")


def test_the_image_runs_as_its_own_user_and_defaults_to_web_with_a_health_check():
    _, user, _ = dockerfile()
    assert user not in ("root", "0", "")
    instructions = dict(dockerfile_instructions())
    assert json.loads(instructions["CMD"]) == shlex.split(procfile()["web"])
    check = instructions["HEALTHCHECK"]
    assert check.startswith("--") or check.startswith("CMD")
    assert "CMD [" in check
    assert "/readyz" in check

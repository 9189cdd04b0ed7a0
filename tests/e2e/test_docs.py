"""The shell examples of README.md, docs/DEVICES.md and docs/OCPP.md, read from the Markdown and
run as written, in order, against `make run`'s processes (`python -m tools.local serve`), so that
the docs cannot drift from the service.

How a block is run: in bash with `set -euo pipefail`, from a directory of its own (with `.venv`
linked in, as the checkout has it), the service's host and ports put where the docs say
`localhost:8000`, `127.0.0.1:9000` or `https://ev.example.com`. `curl` fails on an HTTP error
(--fail-with-body); `make flask` and `make simulate` run what the Makefile runs for them
(checked below), reaching `make run`'s servers through its DATA_DIR as a second terminal would.
A line that assigns a placeholder (`TOKEN=<device token printed by make run>`) is left out (the
test has set it), as is any other line naming one (`dead-letters replay <id>`).

What a block's comments say it prints is checked: a JSON answer shown whole must be one of the
block's answers; one shown in part (`...`) must have its keys, and its values where shown, in
the answers; a CSV header after `> file` must be the file's first line; a line after a heredoc
must be in what it printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN, ROOT
from tests.support.helpers import wait_until
from tools.local import free_port
from tools.stack import Stack

DOCS = ("README.md", "docs/DEVICES.md", "docs/OCPP.md")
# The service itself and the tests: what these examples run against, not examples to run.
NOT_EXAMPLES = ("make run", "make test")
PLACEHOLDER = re.compile(r"<[a-z][a-z ]*>")
ASSIGNED_PLACEHOLDER = re.compile(r"^[A-Z_]+=<[^>]+>\s*$")
# What the Makefile runs for the targets the examples use; the bash functions below do the same.
RECIPES = {
    "flask": "$(PY) -m tools.local exec -- $(VENV)/bin/flask --app web $(ARGS)",
    "simulate": "$(PY) -m tools.local exec -- $(PY) -m simulator $(ARGS)",
}
PRELUDE = r"""
set -euo pipefail
curl() { command curl --fail-with-body --max-time 60 "$@"; }
make() {
  local target="$1" args=""; shift
  for a in "$@"; do case "$a" in ARGS=*) args="${a#ARGS=}";; esac; done
  case "$target" in
    flask) "$EV_VENV/python" -m tools.local exec -- "$EV_VENV/flask" --app web $args ;;
    simulate) "$EV_VENV/python" -m tools.local exec -- "$EV_VENV/python" -m simulator $args ;;
    *) echo "make $target is not an example" >&2; return 2 ;;
  esac
}
"""


def examples() -> list[tuple[str, str]]:
    """(document, block) of every ```sh block, in reading order."""
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            commands = [line.strip() for line in block.splitlines()]
            if not any(c.startswith(NOT_EXAMPLES) for c in commands):
                found.append((doc, block))
    return found


def test_the_makefile_runs_what_the_examples_assume():
    makefile = (ROOT / "Makefile").read_text()
    for recipe in RECIPES.values():
        assert recipe in makefile


@pytest.fixture
def make_run(service_env, clean_db, tmp_path):
    """`make run` (`python -m tools.local serve`) on the test's database and Redis keys, its own
    ports and data directory; the environment a second terminal needs to reach it."""
    prefix = service_env["REDIS_KEY_PREFIX"]
    env = {
        **service_env,
        "PORT": str(free_port()),
        "OCPP_PORT": str(free_port()),
        "DATA_DIR": str(tmp_path / "data"),
        "METRICS_DIR": str(tmp_path / "metrics"),
    }
    stack = Stack(env=env, logs=tmp_path / "logs")
    stack.start("make-run", command=[sys.executable, "-m", "tools.local", "serve"])
    try:
        wait_until(stack.ready, 120, "make run to answer /readyz")
        # A second terminal: no server URLs of its own, only where make run keeps its data.
        terminal = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DEVICE_TOKENS", "ANALYST_TOKENS")
        }
        terminal.update(
            DATA_DIR=env["DATA_DIR"], REDIS_KEY_PREFIX=prefix, CELERY_QUEUE=env["CELERY_QUEUE"],
            TOKEN=DEVICE_TOKEN, ANALYST=ANALYST_TOKEN, PYTHONPATH=str(ROOT),
            EV_VENV=str(Path(sys.executable).parent),
        )  # fmt: skip
        yield env, terminal, stack
    finally:
        stack.stop_all()


def _counted(url: str, vehicle: str) -> bool:
    request = urllib.request.Request(  # noqa: S310
        f"{url}/v1/analytics/performance/{vehicle}",
        headers={"Authorization": f"Bearer {ANALYST_TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
            return bool(reply.status == 200)
    except OSError:
        return False


def test_every_example_of_the_docs_works_as_written(make_run, tmp_path):
    env, terminal, stack = make_run
    url = stack.url
    here = tmp_path / "reader"
    here.mkdir()
    (here / ".venv").symlink_to(ROOT / ".venv")
    (here / "fleet.csv").write_text("kind,id\nmeter,F1\nvehicle,FV1\n")  # the reader's own file
    waited = False
    ran = 0
    for doc, block in examples():
        if not waited and ("/v1/analytics" in block or "/sessions" in block):
            # A reader reads on for a few seconds: make run refreshes every 5.
            wait_until(lambda: _counted(url, "V1"), 60, "the refresh to count V1")
            time.sleep(2)  # and every web process has seen it: READ_CACHE_SECONDS (1)
            waited = True
        script = _runnable(block, env)
        done = subprocess.run(
            ["bash", "-c", PRELUDE + script], cwd=here, env=terminal,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        where = (
            f"{doc}:\n{block}\nstdout: {done.stdout[-1500:]}\nstderr: {done.stderr[-1500:]}\n"
            f"make run's log: {stack.log('make-run')[-3000:]}"
        )
        assert done.returncode == 0, where
        _check_comments(block, done.stdout, here, where)
        ran += 1
    assert ran >= 15, "the docs' examples were found"


def _runnable(block: str, env: dict[str, str]) -> str:
    port, ocpp = env["PORT"], env["OCPP_PORT"]
    lines = []
    for line in block.splitlines():
        if ASSIGNED_PLACEHOLDER.match(line) or PLACEHOLDER.search(line.split("#")[0]):
            continue
        line = line.replace("localhost:8000", f"127.0.0.1:{port}")
        line = line.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        line = line.replace("127.0.0.1:9000", f"127.0.0.1:{ocpp}")
        lines.append(line.replace("https://ev.example.com", f"http://127.0.0.1:{port}"))
    return "\n".join(lines) + "\n"


def _answers(stdout: str) -> list[Any]:
    """Every JSON object the block printed."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := stdout.find("{", at)) >= 0:
        try:
            value, end = decoder.raw_decode(stdout, at)
        except ValueError:
            at += 1
            continue
        found.append(value)
        at = end
    return found


def _pairs(value: Any) -> list[tuple[str, Any]]:
    """Every (key, value) of a JSON value, nested ones too."""
    out = []
    if isinstance(value, dict):
        for key, inner in value.items():
            out.append((key, inner))
            out += _pairs(inner)
    elif isinstance(value, list):
        for inner in value:
            out += _pairs(inner)
    return out


_SHOWN = re.compile(r'"(\w+)":(-?\d+(?:\.\d+)?|"[^"]*"|null|true|false|\[\])')


def _check_comments(block: str, stdout: str, here: Path, where: str) -> None:
    lines = block.splitlines()
    answers = _answers(stdout)
    pairs = [pair for answer in answers for pair in _pairs(answer)]
    for number, line in enumerate(lines):
        text = line.strip()
        if text.startswith("# {"):
            shown = [text[2:]]
            for more in lines[number + 1 :]:
                if not more.strip().startswith("#  ") and not more.strip().startswith("#   "):
                    break
                shown.append(more.strip()[1:].strip())
            _check_json(" ".join(shown), answers, pairs, where)
        if (file := re.search(r"> (\S+)\s+# ([\w,]+)$", line)) is not None:
            written = (here / file[1]).read_text().splitlines()
            assert written[:1] == [file[2]], where
        if text.startswith("# ") and number > 0 and lines[number - 1].strip() == "EOF":
            assert text[2:] in stdout, where


def _check_json(shown: str, answers: list[Any], pairs: list[tuple[str, Any]], where: str) -> None:
    shown = shown[: shown.rindex("}") + 1]
    whole = None
    if "..." not in shown:  # shown whole, not in part
        whole = json.loads(shown)
    if whole is not None:
        assert whole in answers, f"{shown} not among the answers; {where}"
        return
    keys = {key for key, _ in pairs}
    for key in re.findall(r'"(\w+)":', shown):
        assert key in keys, f"{key} shown but not answered; {where}"
    for key, raw in _SHOWN.findall(shown):
        if raw == '"..."':
            continue
        value = json.loads(raw)
        assert any(k == key and _same(v, value) for k, v in pairs), (
            f"{key}: {raw} shown but not answered; {where}"
        )


def _same(answered: Any, shown: Any) -> bool:
    if isinstance(shown, float) and isinstance(answered, int | float):
        return abs(answered - shown) <= 1e-9 * max(1.0, abs(shown))
    return bool(answered == shown)


def test_examples_are_found_in_each_document():
    docs = {doc for doc, _ in examples()}
    assert docs == set(DOCS)

"""docker-compose.yml, the Procfile and the Dockerfile as the tests read them (no Docker here)."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from tests.support.constants import ROOT


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def dockerfile() -> tuple[dict[str, str], str, str]:
    """The image's ENV, its USER, and its RUN lines joined."""
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    env: dict[str, str] = {}
    user, runs = "root", ""
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "ENV":
            env.update(item.partition("=")[::2] for item in shlex.split(rest))
        elif word == "USER":
            user = rest.strip()
        elif word == "RUN":
            runs += rest + "\n"
    return env, user, runs

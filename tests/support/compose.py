"""docker-compose.yml, the Procfile and the Dockerfile as the tests read them (no Docker here),
and the image's files and packages made without Docker."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.constants import ROOT


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, the rest of its line), continuation lines joined, comments left out."""
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [
        (word, rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines)
        if word and not word.startswith("#")
    ]


def dockerfile() -> tuple[dict[str, str], str, str]:
    """The image's ENV, its USER, and its RUN lines joined."""
    env: dict[str, str] = {}
    user, runs = "root", ""
    for word, rest in dockerfile_instructions():
        if word == "ENV":
            env.update(item.partition("=")[::2] for item in shlex.split(rest))
        elif word == "USER":
            user = rest
        elif word == "RUN":
            runs += rest + "\n"
    return env, user, runs


def copied() -> list[str]:
    """What the image copies from the repository (COPY's sources), in order."""
    sources: list[str] = []
    for word, rest in dockerfile_instructions():
        if word == "COPY":
            *given, _destination = shlex.split(rest)
            sources += given
    return sources


def build_image(directory: Path) -> tuple[Path, Path]:
    """The image's files and packages without Docker: what COPY copies, under directory/app, and
    a virtualenv of what its RUN installs (requirements.txt alone, by hash), directory/venv.
    Returns (app, the venv's bin)."""
    app, venv = directory / "app", directory / "venv"
    app.mkdir(parents=True)
    for source in copied():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, app / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, app / source)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "--require-hashes", "-r", str(app / "requirements.txt")],
        check=True, timeout=600,
    )  # fmt: skip
    return app, venv / "bin"

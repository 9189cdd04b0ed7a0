"""The web app is the service only: the simulator is a client and stays out of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_app_imports_neither_the_simulator_nor_rich():
    probe = (
        "import sys\n"
        "from settings import Settings\n"
        "from web import create_app\n"
        "app = create_app(Settings(device_tokens=('d',), analyst_tokens=('a',)))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('simulator', 'rich')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_simulator_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("Usage: python -m simulator [OPTIONS]")
    assert "--vehicles" in done.stdout

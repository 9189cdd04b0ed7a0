"""The suite's own rules (tests/support/suite.py): every test directory maps to a marker, and a
module whose tests share a module-scoped fixture runs on one xdist worker, so it starts what it
shares once."""

from __future__ import annotations

from tests.support.constants import ROOT
from tests.support.suite import GROUPS, MARKERS

TESTS = ROOT / "tests"
MODULE_SCOPED = "scope=" + '"module"'  # written apart, so this file is not one


def _grouped(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in GROUPS)


def test_every_module_sharing_a_module_scoped_fixture_runs_on_one_worker():
    sharing = [
        path.relative_to(TESTS).as_posix()
        for path in TESTS.rglob("test_*.py")
        if MODULE_SCOPED in path.read_text()
    ]
    assert sharing, "the check would find them"
    assert [path for path in sharing if not _grouped(path)] == []


def test_every_test_directory_is_marked_by_its_name_or_as_unit():
    directories = {p.name for p in TESTS.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    assert set(MARKERS) <= directories
    assert directories - set(MARKERS) == {"web", "models", "workers", "chargers"}

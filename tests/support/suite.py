"""How the suite is laid out for pytest (tests/conftest.py applies it): a marker per directory,
and the groups of tests that pytest-xdist runs one after another on one worker."""

from __future__ import annotations

from typing import Any

# Each directory's marker, so `-m "not e2e"` and the like mean what they say.
MARKERS = {"e2e": "e2e", "faults": "faults", "project": "project"}
# Under pytest-xdist (`make test` runs several workers), the tests of a group run one after
# another on one worker (make_scheduler): the fault tests load the machine on purpose, and the
# bench's tests measure, so neither should share the two cores with another of its kind; and a
# module whose tests share a module-scoped stack (or image) starts it once, not once per worker.
GROUPS = {
    "faults": "faults",
    # PostgreSQL-heavy: random fleets refreshed and rebuilt, every arrival order, upgrades,
    # dump and restore. Side by side they crowd the server's shared lock table ("out of shared
    # memory") and each other: one at a time.
    "models": "postgres",
    "e2e/test_bench.py": "bench",
    "e2e/test_openapi.py": "openapi",
    "e2e/test_compose_run.py": "compose_run",
    "web/test_efficiency_window.py": "efficiency_window",
}


def group_of(nodeid: str) -> str | None:
    """The group of a test, by its path under tests/ (a node ID starts `tests/...`)."""
    path = nodeid.split("::", 1)[0].removeprefix("tests/")
    return next((group for prefix, group in GROUPS.items() if path.startswith(prefix)), None)


def make_scheduler(config: Any, log: Any) -> Any:
    """xdist's scope scheduling with a scope per group, and a scope per test elsewhere: the rest
    go one at a time to whichever worker is free. (xdist's own `loadgroup` renames node IDs,
    which pytest 9 no longer lets it do: its groups are silently ignored.)"""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    return GroupScheduling(config, log)

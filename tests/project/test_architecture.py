"""docs/ARCHITECTURE.md is the newcomer's map: it names every package and module of the service
where it is, every file it names exists, and a new kind of reading touches the files it lists."""

from __future__ import annotations

import re

from tests.support.constants import MODULES, PACKAGES, ROOT

MAP = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
# `name`, `dir/`, `dir/file.py`: what the map writes in backticks.
NAMED = re.compile(r"`([A-Za-z0-9_./-]+)`")


def sections() -> dict[str, str]:
    """The map's sections by heading."""
    parts = re.split(r"^## (.+)$", MAP, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def named_paths(text: str) -> set[str]:
    return {
        name
        for name in NAMED.findall(text)
        if ("/" in name or name.endswith(".py")) and not name.startswith("/")
    }


def test_the_layers_table_names_every_package_and_top_level_module():
    table = sections()["Packages, one concept each"]
    assert {f"{package}/" for package in PACKAGES} <= named_paths(table)
    assert {f"{module}.py" for module in MODULES} <= named_paths(table)


def test_every_module_of_a_package_is_named_in_its_section():
    by_heading = sections()
    missing = {}
    for package in PACKAGES:
        heading = next(h for h in by_heading if f"{package}/" in h.split())
        named = {name.rsplit("/", 1)[-1] for name in named_paths(by_heading[heading])}
        modules = {
            path.name
            for path in (ROOT / package).rglob("*.py")
            if path.name != "__init__.py" and "static" not in path.parts
        }
        if modules - named:
            missing[package] = sorted(modules - named)
    assert missing == {}


def test_every_file_the_map_names_exists():
    by_heading = sections()
    absent = []
    for heading, text in by_heading.items():
        packages = [word.rstrip("/") for word in heading.split() if word.endswith("/")]
        for name in named_paths(text):
            candidates = [ROOT / name]
            for package in packages:  # a package's section names its modules bare
                candidates += list((ROOT / package).rglob(name.rsplit("/", 1)[-1]))
            if not any(path.exists() for path in candidates):
                absent.append(f"{heading}: {name}")
    assert absent == []


def test_a_new_kind_lists_at_most_four_files_and_they_exist():
    steps = re.findall(r"^\d+\. (.+)$", sections()["A new kind of reading"], re.MULTILINE)
    assert 1 <= len(steps) <= 4, steps
    files = [name for step in steps for name in named_paths(step)]
    assert "models/kinds.py" in files
    for name in files:
        assert (ROOT / name).exists(), name

"""The web app is the service only: the simulator is a client and stays out of it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support.constants import MODULES, PACKAGES, ROOT


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


# The service's modules, by layer: a module may import its own layer and those below it.
LAYERS = {
    "settings": 0,
    "logs": 1, "metrics": 1, "celeryconfig": 1, "ports": 1, "csv_cells": 1,
    "models": 2,
    "storage": 3,
    "readings": 4, "devices": 4,
    "buffer": 5, "efficiency": 5,
    "jobs": 6,
    "chargers": 7, "workers": 7, "cli": 7,
    "web": 8,
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_package_and_module_of_the_service_has_a_layer():
    assert set(LAYERS) == set(PACKAGES) | set(MODULES)


def _modules() -> dict[str, Path]:
    found = {}
    for top in LAYERS:
        package = ROOT / top
        paths = package.rglob("*.py") if package.is_dir() else [ROOT / f"{top}.py"]
        found.update({_module_name(path): path for path in paths})
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of ours `name` imports, at the top or inside a function (an import moved
    into a function still makes a cycle), but not under `if TYPE_CHECKING:`."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.rsplit(".", node.level)[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found & known


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_no_module_imports_a_higher_layer_or_a_sibling_one():
    wrong = [
        (module, imported)
        for module, imports in _graph().items()
        for imported in imports
        if module.split(".")[0] != imported.split(".")[0]
        and LAYERS[imported.split(".")[0]] >= LAYERS[module.split(".")[0]]
    ]
    assert wrong == []


def test_there_is_no_import_cycle():
    graph = _graph()
    cycles = []

    def walk(module: str, path: list[str], done: set[str]) -> None:
        for imported in sorted(graph[module]):
            if imported in path:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in done:
                walk(imported, [*path, imported], done)
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            walk(module, [module], done)
    assert cycles == []


def test_no_test_module_imports_another_or_a_conftest():
    """What tests share lives in tests/support/."""
    wrong = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("tests.") and (
                    last.startswith("test_") or last == "conftest"
                ):
                    wrong.append((str(path.relative_to(ROOT)), node.module))
    assert wrong == []

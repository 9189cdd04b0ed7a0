"""A kind of reading is declared once (models/kinds.py): no other production module names a
kind's tables, columns or wire fields, so adding a kind touches the files docs/ARCHITECTURE.md
lists and no others."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from models.kinds import KINDS
from tests.support.constants import PACKAGES, ROOT

# Where a kind's names may appear: its declaration, the efficiency rule (which is about meters
# and vehicles by definition), and the record constructors clients use.
ALLOWED = {"models/kinds.py", "readings/records.py"}
ALLOWED_UNDER = ("efficiency/",)


def kind_names() -> set[str]:
    """What a kind declares: its tables and its measured values (columns and wire fields).
    Device IDs are left out: the efficiency answers and the vehicle-meter bindings name vehicles
    and meters by definition."""
    names = set()
    for kind in KINDS:
        names |= {kind.history_table, kind.current_table}
        names |= {q.column for q in kind.quantities} | {q.wire for q in kind.quantities}
    return names


def production_modules() -> list[Path]:
    return list(ROOT.glob("*.py")) + [
        p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
    ]


def names_in_code(path: Path) -> set[str]:
    """Identifiers and words inside string literals; comments and docstrings do not count."""
    found = set()
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    for i, token in enumerate(tokens):
        if token.type == tokenize.NAME:
            found.add(token.string)
        elif token.type == tokenize.STRING:
            before = tokens[i - 1].type if i else tokenize.NEWLINE
            if before in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
                continue  # a docstring or a bare string statement
            found |= set(re.findall(r"[A-Za-z_]\w*", token.string))
    return found


def test_only_the_registry_names_a_kinds_tables_columns_and_fields():
    names = kind_names()
    offenders = {}
    for path in production_modules():
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED or relative.startswith(ALLOWED_UNDER):
            continue
        named = names_in_code(path) & names
        if named:
            offenders[relative] = sorted(named)
    assert offenders == {}


def test_the_check_sees_a_name_written_outside_the_registry(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""About kwh_consumed_ac."""\nQUERY = "SELECT kwh_consumed_ac FROM t"\n')
    assert "kwh_consumed_ac" in names_in_code(module)
    module.write_text('"""About kwh_consumed_ac."""\n# and kwhConsumedAc here\nX = 1\n')
    assert names_in_code(module) & kind_names() == set()

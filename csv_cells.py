"""CSV cells a spreadsheet cannot run: what the API's CSV answers (web/contract/csv_export.py) and
the devices' export and import (cli/provisioning.py) write and read."""

from __future__ import annotations

from typing import Any

# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); IDs may start with '-'.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A text cell a spreadsheet would run, made inert with a leading apostrophe. Numbers stay
    numbers (a negative temperature is not a formula)."""
    if isinstance(value, str) and value.startswith(_FORMULA_LEADS):
        return "'" + value
    return value


def uncell(value: str) -> str:
    """A cell as it was before cell() made it inert (IDs never hold an apostrophe)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_LEADS) else value

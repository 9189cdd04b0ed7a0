"""Answers as CSV, for `Accept: text/csv`: cells a spreadsheet cannot run, rows streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, request, stream_with_context

# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); IDs may start with '-'.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
# Rows written to the response at a time.
_CHUNK = 1_000


def wanted() -> bool:
    """The client asks for CSV (and prefers it to JSON)."""
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def cell(value: Any) -> Any:
    """A text cell a spreadsheet would run, made inert with a leading apostrophe. Numbers stay
    numbers (a negative temperature is not a formula)."""
    if isinstance(value, str) and value.startswith(_FORMULA_LEADS):
        return "'" + value
    return value


def uncell(value: str) -> str:
    """A cell as it was before cell() made it inert (IDs never hold an apostrophe)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_LEADS) else value


def lines(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The header, then the rows' cells in `columns` order, a chunk of lines at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for number, row in enumerate(rows, 1):
        writer.writerow([cell(row[c]) for c in columns])
        if number % _CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def attachment(chunks: Iterator[str], filename: str) -> Response:
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

"""Answers as CSV, for `Accept: text/csv`: cells a spreadsheet cannot run, rows streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, request, stream_with_context

from csv_cells import cell

# Rows written to the response at a time.
_CHUNK = 1_000


def wanted() -> bool:
    """The client asks for CSV (and prefers it to JSON)."""
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


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

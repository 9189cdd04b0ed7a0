"""`flask --app web devices import|export`: provisioning a fleet's devices at once.

`import` reads a CSV of kind and ID and issues a token to each device that has none, in one
transaction: given the same file again it issues none twice, so a run cut short is run again. The
tokens are shown once: written to `--out` (a new file, readable by its owner only, made safe on
disk before the tokens are committed), else one JSON line each on standard output.
"""

from __future__ import annotations

import csv
import os
import sys
from typing import IO

import click
import orjson
from flask.cli import with_appcontext
from sqlalchemy import Connection

import csv_cells
from cli.database import in_one_transaction
from devices import charger_ids, credentials
from devices.credentials import KINDS, Device
from readings.fields import ID_RE, ID_RULE

# The CSV's columns; a first line naming them is a header and is skipped.
COLUMNS = ("kind", "id")


@click.command("import")
@with_appcontext
# utf-8-sig: a file saved by a spreadsheet starts with a byte-order mark, read as nothing.
@click.argument("source", type=click.File("r", encoding="utf-8-sig"))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write kind,id,token here (a new file, mode 600); default: JSON lines on stdout.",
)
def import_devices(source: IO[str], out: str | None) -> None:
    """Issue tokens to the devices of a CSV of `kind,id` (meter, vehicle or charger) that have
    none; each token shown once. Devices with a live token are left as they are."""
    devices = _read(source)
    if out is not None and os.path.lexists(out):  # a dangling link too: never followed
        raise click.ClickException(f"{out} exists: give a new file, tokens are never overwritten")
    with _opened(out) as sink:

        def issue(conn: Connection) -> list[tuple[Device, str]]:
            issued = credentials.add_many(conn, devices)
            if out is not None:
                # On disk before the commit: a token is never committed unrecorded.
                _write_csv(sink, issued)
            return issued

        try:
            issued = in_one_transaction(issue)
        except BaseException:
            if out is not None:
                os.unlink(out)  # its tokens were never committed
            raise
        if out is None:
            for device, token in issued:
                line = {"kind": device.kind, "id": device.id, "token": token}
                sink.write(orjson.dumps(line).decode() + "\n")
    click.echo(
        f"issued {len(issued)} token(s); {len(devices) - len(issued)} device(s) already had one"
        + (f"; tokens in {out}" if out else ""),
        err=True,
    )


@click.command("export")
@with_appcontext
def export_devices() -> None:
    """Every device with a live token as CSV `kind,id,created_at` (no tokens): what `import`
    reads, for another environment or a record."""
    rows = in_one_transaction(credentials.listing)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([*COLUMNS, "created_at"])
    for row in rows:
        # An ID such as -1-1 made inert for a spreadsheet, as every CSV of the service; import
        # reads it back.
        writer.writerow([row["kind"], csv_cells.cell(row["id"]), row["createdAt"]])


def _read(source: IO[str]) -> list[Device]:
    """The devices of the CSV, each once; any bad line refuses the whole file, naming it."""
    devices: dict[Device, None] = {}
    problems: list[str] = []
    reader = csv.reader(source)
    try:
        for number, line in enumerate(reader, start=1):
            _read_line(number, line, devices, problems)
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"nothing issued: {source.name} is not UTF-8 text (after line {reader.line_num}: "
            f"{exc.reason})"
        ) from None
    except csv.Error as exc:
        raise click.ClickException(
            f"nothing issued: line {reader.line_num} is not CSV a device list can hold ({exc})"
        ) from None
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise click.ClickException(f"nothing issued: {shown}{more}")
    return list(devices)


def _read_line(
    number: int, line: list[str], devices: dict[Device, None], problems: list[str]
) -> None:
    cells = [csv_cells.uncell(cell.strip()) for cell in line]
    if not cells or cells == [""]:
        return
    if number == 1 and tuple(c.lower() for c in cells[:2]) == COLUMNS:
        return  # the header
    if len(cells) < 2:
        problems.append(f"line {number}: give kind,id")
        return
    kind, device_id = cells[0].lower(), cells[1]
    if kind not in KINDS:
        problems.append(f"line {number}: kind is one of {', '.join(KINDS)}, not {kind[:40]!r}")
    elif not ID_RE.fullmatch(device_id):
        problems.append(f"line {number}: a device id must be {ID_RULE}")
    elif kind == credentials.CHARGER and (wrong := charger_ids.problem(device_id)):
        problems.append(f"line {number}: {wrong}")
    else:
        devices[Device(kind, device_id)] = None


class _opened:
    """The sink for tokens: a new file only its owner reads, or standard output."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.file: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.path is None:
            return sys.stdout
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise click.ClickException(
                f"nothing issued: cannot make {self.path} ({exc.strerror}); give a new file"
            ) from None
        self.file = open(fd, "w", encoding="utf-8", newline="")
        return self.file

    def __exit__(self, *_: object) -> None:
        if self.file is not None:
            self.file.close()


def _write_csv(sink: IO[str], issued: list[tuple[Device, str]]) -> None:
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow([*COLUMNS, "token"])
    writer.writerows([device.kind, device.id, token] for device, token in issued)
    sink.flush()
    os.fsync(sink.fileno())

"""Provisioning a fleet with `flask devices import` and `export`, on real PostgreSQL and Redis:
tokens issued once to the devices that have none, each one working for its own device, written
to a file only its owner reads; a bad line refuses the whole file; export lists what exists."""

from __future__ import annotations

import csv
import io
import os
import stat
import time

import orjson
import pytest

from tests.support.credentials import cli, issue, post, queued
from tests.support.factories import meter, vehicle
from web import create_app

FLEET = 10_000


@pytest.fixture
def app(settings, clean_db):
    return create_app(settings.replace(device_token_cache_seconds=0))


def fleet_csv(path, vehicles: int) -> None:
    lines = ["kind,id"]
    for n in range(vehicles):
        lines += [f"vehicle,V{n:05d}", f"meter,M{n:05d}"]
    path.write_text("\n".join(lines) + "\n")


def test_a_fleet_is_issued_its_tokens_once_to_a_private_file(app, stream, tmp_path):
    source, out = tmp_path / "fleet.csv", tmp_path / "tokens.csv"
    fleet_csv(source, FLEET // 2)
    started = time.monotonic()
    result = cli(app, "import", str(source), "--out", str(out))
    seconds = time.monotonic() - started
    assert f"issued {FLEET} token(s); 0 device(s) already had one" in result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == FLEET
    assert len({r["token"] for r in rows}) == FLEET
    by_id = {r["id"]: r["token"] for r in rows}
    reply = post(app, by_id["M00042"], [meter("M00042"), meter("M00043")])
    assert (reply.json["accepted"], queued(stream)) == (1, ["M00042"])
    cli(app, "bind", "V00007", "M00007")
    assert post(app, by_id["V00007"], vehicle("V00007", "M00007")).status_code == 202
    assert seconds < 60, f"10,000 devices took {seconds:.1f} s"  # working, not stuck

    # Again, with two new devices: only they get tokens; the file already there is refused.
    with source.open("a") as more:
        more.write("meter,M-new\ncharger,CP-new\n")
    assert "exists" in cli(app, "import", str(source), "--out", str(out), ok=False).output
    again = cli(app, "import", str(source))
    assert f"issued 2 token(s); {FLEET} device(s) already had one" in again.stderr
    issued = [orjson.loads(line) for line in again.stdout.splitlines()]
    new = sorted((i["kind"], i["id"]) for i in issued)
    assert new == [("charger", "CP-new"), ("meter", "M-new")]
    assert post(app, by_id["M00042"], meter("M00042")).status_code == 202, "old tokens still work"


def test_a_bad_line_refuses_the_whole_file_and_issues_nothing(app, tmp_path):
    source = tmp_path / "fleet.csv"
    source.write_text("meter,M1\nbus,B1\nvehicle,has space\nvehicle\n")
    result = cli(app, "import", str(source), "--out", str(tmp_path / "t.csv"), ok=False)
    assert "nothing issued: line 2: kind is one of meter, vehicle, charger, not 'bus'" in (
        result.output
    )
    assert "line 3: a device id must be" in result.output
    assert "line 4: give kind,id" in result.output
    assert not (tmp_path / "t.csv").exists()
    assert cli(app, "list").output == ""


def test_export_lists_the_devices_with_live_tokens_without_them(app, tmp_path):
    token = issue(app, "meter", "M1")
    issue(app, "vehicle", "V1")
    cli(app, "revoke", "vehicle", "V1")
    exported = cli(app, "export").stdout
    assert token not in exported
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["kind"], r["id"]) for r in rows] == [("meter", "M1")]
    assert rows[0]["created_at"]
    # What export writes, import reads: nothing new to issue.
    source = tmp_path / "exported.csv"
    source.write_text(exported)
    reimported = cli(app, "import", str(source)).stderr
    assert "issued 0 token(s); 1 device(s) already had one" in reimported


def _refused(app, *args: str) -> str:
    """`flask devices ARGS` refused as an operator sees it: a non-zero exit, one clear line,
    no traceback."""
    result = app.test_cli_runner().invoke(args=["devices", *args])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("meter,M1\nmeter,M\xe92\n".encode("latin-1"), "is not UTF-8 text"),
        (b"meter,M1\nmeter," + b"x" * 140_000 + b"\n", "is not CSV a device list can hold"),
    ],
)
def test_a_file_that_is_not_a_device_list_is_refused_clearly(app, tmp_path, content, said):
    source, out = tmp_path / "fleet.csv", tmp_path / "tokens.csv"
    source.write_bytes(content)
    assert said in _refused(app, "import", str(source), "--out", str(out))
    assert not out.exists()
    assert cli(app, "list").output == ""


def test_a_dangling_link_as_out_is_refused_and_never_followed(app, tmp_path):
    source, out = tmp_path / "fleet.csv", tmp_path / "tokens.csv"
    source.write_text("meter,M1\n")
    out.symlink_to(tmp_path / "elsewhere.csv")
    assert "exists: give a new file" in _refused(app, "import", str(source), "--out", str(out))
    assert not (tmp_path / "elsewhere.csv").exists()
    missing_dir = tmp_path / "no" / "such" / "tokens.csv"
    assert "cannot make" in _refused(app, "import", str(source), "--out", str(missing_dir))
    assert cli(app, "list").output == ""


def test_a_spreadsheets_file_with_a_byte_order_mark_and_a_header_is_read(app, tmp_path):
    source = tmp_path / "fleet.csv"
    source.write_bytes("\ufeffKind,ID\r\nmeter,M1\r\nVehicle,V1\r\n".encode())
    assert "issued 2 token(s)" in cli(app, "import", str(source)).stderr


def test_export_guards_ids_a_spreadsheet_would_run_and_import_reads_them_back(app, tmp_path):
    cli(app, "add", "--", "meter", "-1-1")  # an ID that starts with '-', after "--"
    issue(app, "meter", "M1")
    exported = cli(app, "export").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["id"] for r in rows] == ["'-1-1", "M1"]
    source = tmp_path / "exported.csv"
    source.write_text(exported)
    assert (
        "issued 0 token(s); 2 device(s) already had one" in cli(app, "import", str(source)).stderr
    )

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

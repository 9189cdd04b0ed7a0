"""A charger's ID and its namespace through `flask devices add` and `import`, on real PostgreSQL:
no device may take a meter ID a charger's token writes, no charger may be added over devices that
hold one, and no charger ID is accepted that could not connect or whose meters no route reads."""

from __future__ import annotations

import pytest

from devices.charger_ids import MAX_LENGTH, namespace_of
from tests.support.credentials import cli, issue, post, queued
from tests.support.factories import meter
from web import create_app


@pytest.fixture
def app(settings, clean_db):
    return create_app(settings.replace(device_token_cache_seconds=0))


@pytest.mark.parametrize(
    ("kind", "device_id"),
    [("meter", "DEPOT:8"), ("meter", "DEPOT"), ("charger", "DEPOT:7"), ("vehicle", "DEPOT:1")],
)
def test_no_device_joins_a_chargers_namespace(app, kind, device_id):
    issue(app, "charger", "DEPOT")
    refused = cli(app, "add", kind, device_id, ok=False)
    assert "namespace" in refused.output or "charger id must be" in refused.output
    # A neighbour outside it is fine: another charger's, or not a connector's.
    issue(app, "meter", "DEPOT-2:8")
    issue(app, "meter", "DEPOTS")


@pytest.mark.parametrize(
    "existing", [("meter", "DEPOT:8"), ("meter", "DEPOT"), ("vehicle", "DEPOT")]
)
def test_no_charger_is_added_over_devices_in_its_namespace(app, existing):
    issue(app, *existing)
    refused = cli(app, "add", "charger", "DEPOT", ok=False)
    assert f"charger DEPOT would cover {existing[0]} {existing[1]}" in refused.output


def test_once_the_neighbour_is_revoked_the_charger_may_be_added(app, stream):
    issue(app, "meter", "DEPOT:8")
    cli(app, "revoke", "meter", "DEPOT:8")
    token = issue(app, "charger", "DEPOT")
    reply = post(app, token, [meter("DEPOT:8"), meter("DEPOT:8:1")])
    assert reply.json["accepted"] == 1
    assert queued(stream) == ["DEPOT:8"]


def test_import_refuses_overlaps_in_the_file_and_with_what_exists(app, tmp_path):
    issue(app, "charger", "HUB")
    source = tmp_path / "fleet.csv"
    source.write_text("kind,id\ncharger,DEPOT\nmeter,DEPOT:3\nmeter,HUB:1\nmeter,M1\n")
    refused = cli(app, "import", str(source), ok=False)
    assert "meter DEPOT:3 is in charger DEPOT's namespace" in refused.output
    assert "meter HUB:1 is in charger HUB's namespace" in refused.output
    assert "charger DEPOT would cover meter DEPOT:3" in refused.output
    # Nothing of the file was issued.
    listed = cli(app, "list").output
    assert "M1" not in listed
    assert "DEPOT" not in listed
    # Run again with the file mended: a charger already live is not new.
    source.write_text("charger,HUB\ncharger,DEPOT\nmeter,M1\n")
    assert (
        "issued 2 token(s); 1 device(s) already had one" in cli(app, "import", str(source)).stderr
    )


@pytest.mark.parametrize(
    ("device_id", "why"),
    [
        ("CP:1", "no ':'"),  # the Basic user ends at the first ':' (RFC 7617): it could not connect
        ("C" * (MAX_LENGTH + 1), f"1 to {MAX_LENGTH} characters"),  # CP…:1 would be 66
    ],
)
def test_a_charger_id_that_could_not_connect_or_make_valid_meters_is_refused(
    app, tmp_path, device_id, why
):
    assert why in cli(app, "add", "charger", device_id, ok=False).output
    source = tmp_path / "fleet.csv"
    source.write_text(f"charger,{device_id}\n")
    assert why in cli(app, "import", str(source), ok=False).output
    longest = "C" * MAX_LENGTH
    issue(app, "charger", longest)
    assert len(f"{longest}:999") == 64


def test_the_namespace_is_the_id_and_its_numbered_connectors():
    assert namespace_of("DEPOT") == "DEPOT"
    assert namespace_of("DEPOT:12") == "DEPOT"
    assert namespace_of("DEPOT:A") is None
    assert namespace_of("DEPOT:1:2") is None

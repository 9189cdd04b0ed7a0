"""A meter's signed values read a page at a time, judged against the key `flask devices key`
sets; a key that is not one is refused with its reason and changes nothing; a cursor or window
that is not one is a 400 saying so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from readings import signed
from tests.support import ocmf as fixtures
from tests.support.constants import ANALYST_TOKEN

ANALYST = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
WINDOW = "from=2026-12-07T09:00:00Z&to=2026-12-07T12:00:00Z"


@pytest.fixture
def kept(clean_db):
    key = fixtures.meter_key()
    records = [fixtures.record(key, fixtures.payload(("T", f"{n}.000"))) for n in range(1, 6)]
    with clean_db.begin() as conn:
        signed.keep(
            conn,
            [
                signed.SignedValue("CP-K:1", AT + timedelta(minutes=n), "Sample.Periodic",
                                   "Energy.Active.Import.Register", None, record)
                for n, record in enumerate(records)
            ],
        )  # fmt: skip
    return key, records


def devices(app, *args: str):
    return app.test_cli_runner().invoke(args=["devices", *args])


def test_pages_of_a_meters_signed_values_judged_by_the_key_set(app, client, kept, tmp_path):
    key, records = kept
    pem = tmp_path / "key.pem"
    pem.write_text(fixtures.public_pem(key))
    done = devices(app, "key", "CP-K:1", str(pem))
    assert done.exit_code == 0, done.output
    seen, cursor = [], ""
    while True:
        page = client.get(
            f"/v1/meters/CP-K:1/signed-values?{WINDOW}&limit=2{cursor}", headers=ANALYST
        )
        assert page.status_code == 200, page.json
        seen += page.json["signedValues"]
        if page.json["nextCursor"] is None:
            break
        cursor = f"&cursor={page.json['nextCursor']}"
    assert [v["signedData"] for v in seen] == records
    assert [v["signedKwh"] for v in seen] == [1, 2, 3, 4, 5]
    assert {v["signatureValid"] for v in seen} == {True}


def test_a_file_that_is_no_key_is_refused_and_the_old_key_stays(app, client, kept, tmp_path):
    key, _ = kept
    good = tmp_path / "key.hex"
    good.write_text(fixtures.public_hex(key))
    assert devices(app, "key", "CP-K", str(good)).exit_code == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("not a key, at all!")
    refused = devices(app, "key", "CP-K", str(bad))
    assert refused.exit_code == 2
    assert "not PEM, nor DER in hex or Base64" in refused.output
    assert devices(app, "key", "CP-K").exit_code == 2  # neither a file nor --remove
    page = client.get(f"/v1/meters/CP-K:1/signed-values?{WINDOW}", headers=ANALYST).json
    assert {v["signatureValid"] for v in page["signedValues"]} == {True}  # the charger's key
    assert devices(app, "key", "CP-K", "--remove").exit_code == 0
    page = client.get(f"/v1/meters/CP-K:1/signed-values?{WINDOW}", headers=ANALYST).json
    assert {v["signatureValid"] for v in page["signedValues"]} == {None}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (f"{WINDOW}&cursor=nonsense", "invalid_cursor"),
        ("from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z", "window_too_long"),
        ("from=2026-12-07T12:00:00Z&to=2026-12-07T09:00:00Z", "invalid_query"),
    ],
)
def test_a_cursor_or_window_that_is_not_one_is_a_400_saying_so(client, query, code):
    answer = client.get(f"/v1/meters/CP-K:1/signed-values?{query}", headers=ANALYST)
    assert answer.status_code == 400
    assert answer.json["error"] == code

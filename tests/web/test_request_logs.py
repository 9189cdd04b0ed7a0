"""Logs: one line per request with its request id, key=value or JSON, and never a token."""

from __future__ import annotations

import io
import logging
import shlex

import orjson
import pytest

import logs
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN
from tests.support.factories import meter
from web import create_app


@pytest.fixture
def captured(settings):
    def capture(log_format: str) -> io.StringIO:
        out = io.StringIO()
        handler = logs.handler(settings.replace(log_format=log_format), out)
        logger = logging.getLogger("ev.web")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        captures.append(handler)
        return out

    captures: list[logging.Handler] = []
    yield capture
    for handler in captures:
        logging.getLogger("ev.web").removeHandler(handler)


def test_each_request_logs_one_keyvalue_line_with_its_request_id(settings, captured):
    out = captured("keyvalue")
    client = create_app(settings).test_client()
    reply = client.post(
        "/v1/ingest",
        json=meter(),
        headers={"Authorization": f"Bearer {DEVICE_TOKEN}", "X-Request-ID": "abc-123"},
    )
    assert reply.status_code == 202
    assert reply.headers["X-Request-ID"] == "abc-123"
    (line,) = out.getvalue().splitlines()
    assert "request_id=abc-123 event=request method=POST path=/v1/ingest status=202" in line
    assert line.startswith("ts=")
    assert DEVICE_TOKEN not in line


def test_an_unusable_request_id_is_replaced(settings, captured):
    out = captured("keyvalue")
    client = create_app(settings).test_client()
    reply = client.get("/healthz", headers={"X-Request-ID": "no spaces allowed; " + "x" * 80})
    generated = reply.headers["X-Request-ID"]
    assert len(generated) == 16
    assert f"request_id={generated} " in out.getvalue()


def test_json_lines_parse_and_carry_the_request_id(settings, captured):
    out = captured("json")
    client = create_app(settings).test_client()
    client.get("/v1/vehicles/V1", headers={"Authorization": f"Bearer {ANALYST_TOKEN}"})
    (line,) = out.getvalue().splitlines()
    record = orjson.loads(line)
    assert record["level"] == "info"
    assert record["request_id"]
    # Each pair is a field of its own, typed as written: what a log tool filters on.
    assert record["event"] == "request"
    assert record["status"] == 404
    assert record["path"] == "/v1/vehicles/V1"
    assert isinstance(record["ms"], float)
    assert "message" not in record, "nothing was left over as text"


def test_json_fields_hold_a_path_as_one_value_and_other_text_as_message(settings, captured):
    out = captured("json")
    create_app(settings).test_client().get("/x%20status=500")
    logging.getLogger("ev.web").warning("event=odd reason=%s and 100%% free text", "a b=c")
    first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert (first["path"], first["status"]) == ("/x status=500", 404)
    assert second["reason"] == "a b=c"
    assert second["message"] == "and 100% free text"


def test_a_token_in_any_message_is_masked(settings, captured):
    out = captured("keyvalue")
    logging.getLogger("ev.web").warning("header was Authorization: Bearer %s", DEVICE_TOKEN)
    assert DEVICE_TOKEN not in out.getvalue()
    assert "Bearer [redacted]" in out.getvalue()


@pytest.mark.parametrize("log_format", ["keyvalue", "json"])
@pytest.mark.parametrize(
    "header",
    [
        "BEARER {token}",
        "bearer {token}",
        "Bearer\t{token}",
        "Bearer\n  {token}",
        "Authorization: Bearer {token}",
        "token {device_token} in plain text",
    ],
)
def test_a_token_is_masked_however_the_scheme_is_cased_or_spaced(
    settings, captured, log_format, header
):
    out = captured(log_format)
    device_token = "evd_" + "A1b2_C3-d4" * 4 + "xyz"
    message = header.format(token=DEVICE_TOKEN, device_token=device_token)
    logging.getLogger("ev.web").warning("header was %s", message)
    assert DEVICE_TOKEN not in out.getvalue()
    assert device_token[4:] not in out.getvalue()
    assert "[redacted]" in out.getvalue()


@pytest.mark.parametrize(
    "path", ["/x%0Aevent=forged level=error", "/x%0D%0Ats=0 event=forged", "/x%20status=500"]
)
def test_a_path_cannot_forge_a_log_line_or_a_field(settings, captured, path):
    out = captured("keyvalue")
    client = create_app(settings).test_client()
    assert client.get(path).status_code == 404
    (line,) = out.getvalue().splitlines()
    pairs = [token.partition("=") for token in shlex.split(line)]
    keys = [key for key, _, _ in pairs]
    assert keys.count("status") == keys.count("event") == keys.count("ts") == 1, line
    fields = {key: value for key, _, value in pairs}
    assert fields["status"] == "404"
    assert fields["path"].startswith("/x")

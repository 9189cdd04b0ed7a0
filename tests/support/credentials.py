"""Per-device tokens through the CLI an operator uses, and ingest with them."""

from __future__ import annotations

from typing import Any

import orjson
from click.testing import Result
from flask import Flask

from buffer.stream import IngestStream


def cli(app: Flask, *args: str, ok: bool = True) -> Result:
    """`flask devices ARGS`; it must succeed (or, with ok=False, fail)."""
    result = app.test_cli_runner().invoke(args=["devices", *args])
    assert (result.exit_code == 0) == ok, result.output
    return result


def issue(app: Flask, kind: str, device_id: str) -> str:
    """A new token for the device, as `flask devices add` prints it."""
    return cli(app, "add", kind, device_id).stdout.strip()


def post(app: Flask, token: str, body: Any) -> Any:
    return app.test_client().post(
        "/v1/ingest",
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}"},
        content_type="application/json",
    )


def queued(stream: IngestStream) -> list[str]:
    """The device ids of every reading queued since the last call, in order."""
    return [r[2] for e in stream.read_new("test-reader", 1_000_000) for r in e.records]

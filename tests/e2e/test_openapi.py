"""The OpenAPI document at /openapi.json, fuzzed with schemathesis against the running service:
no 5xx, and every response (status, headers, body) as the document says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from settings import Settings
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN
from tests.support.examples import examples
from tests.support.service import Service
from tools.local import free_port
from web.openapi.document import build_spec

# Every operation of the document, known at collection time (the document is built from the
# code, as /openapi.json serves it); the fuzzing itself runs against the live service.
SPEC = build_spec(Settings.from_env({"DEVICE_TOKENS": "d", "ANALYST_TOKENS": "a"}))
OPERATIONS = [
    pytest.param(path, method, mode, id=f"{method} {path} {mode.value}")
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    for mode in schemathesis.GenerationMode
    # Negative cases need something to break: a parameter or a body.
    if mode == schemathesis.GenerationMode.POSITIVE
    or operation.get("parameters")
    or operation.get("requestBody")
]
# A reading's timestamp must lie within RETENTION_DAYS and not in the future: the document says
# so in words, but JSON Schema cannot, so schema-valid readings may rightly be refused (422).
# Likewise a listing's cursor is an opaque token the service issued: any other string is rightly
# refused (400), though the document can only call it a string. And a window's `to` must come
# after its `from`, which JSON Schema cannot relate either; history and session pages have
# cursors too, and the meters' routes are the vehicles' again; an availability's window is at
# most 366 days long, which the schema cannot relate either.
EXCLUDED = {
    "/v1/ingest": [positive_data_acceptance],
    "/v1/analytics/performance": [positive_data_acceptance],
    "/v1/analytics/performance/{vehicleId}": [positive_data_acceptance],
    "/v1/meters/{meterId}/readings": [positive_data_acceptance],
    "/v1/vehicles/{vehicleId}/readings": [positive_data_acceptance],
    "/v1/analytics/meters": [positive_data_acceptance],
    "/v1/analytics/meters/{meterId}": [positive_data_acceptance],
    "/v1/meters/{meterId}/sessions": [positive_data_acceptance],
    "/v1/vehicles/{vehicleId}/sessions": [positive_data_acceptance],
    "/v1/meters/{meterId}/availability": [positive_data_acceptance],
    "/v1/analytics/availability": [positive_data_acceptance],
    "/v1/meters/{meterId}/samples": [positive_data_acceptance],
    "/v1/meters/{meterId}/signed-values": [positive_data_acceptance],
}


@pytest.fixture(scope="module")
def fuzzed(base_settings, server_env, tmp_path_factory) -> Iterator[Service]:
    """web alone (what the fuzzer queues stays in the stream and is removed after)."""
    prefix = f"fuzz-{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": base_settings.database_url,
        "REDIS_URL": server_env["REDIS_URL"],
        "REDIS_KEY_PREFIX": prefix,
        "DEVICE_TOKENS": DEVICE_TOKEN,
        "ANALYST_TOKENS": ANALYST_TOKEN,
        "PORT": str(free_port()),
        "DATA_DIR": str(tmp_path_factory.mktemp("fuzz")),
    }
    service = Service(env=env, logs=tmp_path_factory.mktemp("fuzz-logs"))
    service.start("web")
    yield service
    service.stop_all()
    client = redis.Redis.from_url(server_env["REDIS_URL"])
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def api_schema(fuzzed: Service) -> Any:
    schema = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    # An array past the documented maxItems is refused with 413, as the contract says (too many
    # readings), which schemathesis does not count among the ways to reject bad input.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


@pytest.mark.parametrize(("path", "method", "mode"), OPERATIONS)
def test_every_response_is_as_documented(api_schema, fuzzed, path, method, mode) -> None:
    token = DEVICE_TOKEN if path == "/v1/ingest" else ANALYST_TOKEN
    operation = api_schema[path][method]

    # derandomize: the same cases every run, so CI is repeatable; raise max_examples to explore.
    @settings(
        max_examples=examples(40),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        case.call_and_validate(
            base_url=fuzzed.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            excluded_checks=EXCLUDED.get(path, []),
        )

    fuzz()

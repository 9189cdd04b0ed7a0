"""POST /v1/ingest on a real Redis: every status of the contract, and what reaches the stream."""

from __future__ import annotations

import gzip
import time

import orjson
import pytest

from buffer.stream import IngestStream
from tests.support.constants import ANALYST_TOKEN, DEVICE_TOKEN
from tests.support.factories import meter, vehicle
from web import create_app, services

DEVICE = {"Authorization": f"Bearer {DEVICE_TOKEN}"}


def post(client, body, headers=None, content_type="application/json"):
    data = body if isinstance(body, bytes | str) else orjson.dumps(body)
    return client.post(
        "/v1/ingest", data=data, headers={**DEVICE, **(headers or {})}, content_type=content_type
    )


def queued(stream: IngestStream) -> list:
    """Every reading in the stream, in order, read as a consumer would."""
    entries = stream.read_new("test-reader", 1_000_000)
    return [record for entry in entries for record in entry.records]


def test_one_reading_is_queued_and_answered_202(client, stream):
    reply = post(client, meter("M1", "2026-11-27T10:00:00+01:00", 0.5, 231.0))
    assert reply.status_code == 202
    assert reply.json == {"accepted": 1, "rejected": [], "rejectedCount": 0}
    assert queued(stream) == [["m", "2026-11-27T09:00:00+00:00", "M1", 0.5, 231.0]]
    assert stream.backlog() == 1


def test_an_array_keeps_valid_readings_and_reports_invalid_by_index(client, stream):
    body = [meter("M1"), vehicle(soc=101), vehicle("V2"), {"what": 1}]
    reply = post(client, body)
    assert reply.status_code == 202
    assert reply.json["accepted"] == 2
    assert [r["index"] for r in reply.json["rejected"]] == [1, 3]
    assert reply.json["rejected"][0]["errors"] == {
        "soc": ["Must be greater than or equal to 0 and less than or equal to 100."]
    }
    assert [r[2] for r in queued(stream)] == ["M1", "V2"]


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400])
@pytest.mark.parametrize("field", ["kwhConsumedAc", "voltage", "kwhRegisterAc"])
def test_a_number_no_float_holds_is_refused_by_index_not_the_whole_body(
    client, stream, number, field
):
    good = orjson.dumps(meter("M1")).decode()
    bad = orjson.loads(orjson.dumps(meter("M2")))
    if field == "kwhRegisterAc":
        del bad["kwhConsumedAc"]
    bad[field] = "NUMBER"
    body = f"[{good}, {orjson.dumps(bad).decode()}]".replace('"NUMBER"', number)
    reply = post(client, body)
    assert reply.status_code == 202, reply.json
    assert reply.json["accepted"] == 1
    [rejected] = reply.json["rejected"]
    assert rejected["index"] == 1
    assert field in rejected["errors"]
    assert [r[2] for r in queued(stream)] == ["M1"]


def test_a_register_is_exact_whatever_the_spelling_of_its_name(client, stream):
    # "kwhRegist\u0065rAc" is kwhRegisterAc, escaped: JSON makes it the same key.
    body = (
        b'{"meterId": "M1", "kwhRegist\\u0065rAc": 123456789012.123456, '
        b'"timestamp": "2026-11-27T10:00:00Z"}'
    )
    assert post(client, body).status_code == 202
    assert queued(stream)[0][-1] == "123456789012.123456"


def test_a_lone_surrogate_is_malformed_json_not_a_500(client, stream):
    body = b'[{"meterId": "M1", "\\ud800": 1e400, "kwhRegisterAc": 5}]'
    reply = post(client, body)
    assert reply.status_code == 400
    assert reply.json["error"] == "malformed_json"


def test_malformed_json_is_400(client, stream):
    reply = post(client, b'{"meterId": "M1",')
    assert reply.status_code == 400
    assert reply.json["error"] == "malformed_json"
    assert queued(stream) == []


@pytest.mark.parametrize("body", [b"5", b'"text"', b"null", b"true"])
def test_body_that_is_not_an_object_or_array_is_400(client, body):
    reply = post(client, body)
    assert reply.status_code == 400
    assert reply.json["error"] == "malformed_body"


def test_body_over_the_byte_limit_is_413(settings, stream):
    client = create_app(settings.replace(max_body_bytes=2048)).test_client()
    reply = post(client, [meter(f"M{i}") for i in range(40)])
    assert reply.status_code == 413
    assert reply.json["error"] == "body_too_large"
    assert queued(stream) == []


def test_a_body_of_exactly_the_byte_limit_is_accepted(settings, stream):
    body = orjson.dumps([meter("M1")])
    padded = body[:-1] + b" " * (2048 - len(body)) + b"]"
    assert len(padded) == 2048
    client = create_app(settings.replace(max_body_bytes=2048)).test_client()
    assert post(client, padded).status_code == 202
    assert post(client, padded[:-1] + b" ]").status_code == 413


def gzipped(body) -> bytes:
    return gzip.compress(orjson.dumps(body))


def test_a_gzip_body_is_accepted_like_the_plain_one(client, stream):
    body = [meter("M1"), vehicle("V1"), meter("M2", kwh=-1)]
    reply = post(client, gzipped(body), headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 202
    assert reply.json["accepted"] == 2
    assert [r["index"] for r in reply.json["rejected"]] == [2]
    assert [r[2] for r in queued(stream)] == ["M1", "V1"]
    # Two gzip members, as `cat a.gz b.gz` makes, are one body.
    both = gzip.compress(b"[") + gzip.compress(orjson.dumps(meter("M3")) + b"]")
    assert post(client, both, headers={"Content-Encoding": "gzip"}).json["accepted"] == 1


def test_a_gzip_bomb_is_413_without_inflating_it(settings, stream):
    client = create_app(settings.replace(max_body_bytes=64 * 1024)).test_client()
    # 50 MB of spaces before one reading: under 64 kB compressed, so within the byte limit.
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + orjson.dumps(meter("M1")) + b"]", 9)
    assert len(bomb) < 64 * 1024
    reply = post(client, bomb, headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 413
    assert reply.json["error"] == "body_too_large"
    assert "uncompressed" in reply.json["message"]
    assert queued(stream) == []


def test_a_gzip_body_of_exactly_the_limit_is_accepted(settings, stream):
    body = orjson.dumps([meter("M1")])
    padded = body[:-1] + b" " * (2048 - len(body)) + b"]"
    client = create_app(settings.replace(max_body_bytes=2048)).test_client()
    gz = {"Content-Encoding": "gzip"}
    assert post(client, gzip.compress(padded), headers=gz).status_code == 202
    assert post(client, gzip.compress(padded[:-1] + b" ]"), headers=gz).status_code == 413


@pytest.mark.parametrize(
    ("data", "encoding", "status", "code"),
    [
        (b"not gzip at all", "gzip", 400, "malformed_gzip"),
        (gzip.compress(b'{"meterId": "M1"}', mtime=0)[:-12], "gzip", 400, "malformed_gzip"),
        (b"[]", "br", 415, "unsupported_encoding"),
    ],
)
def test_bad_encodings_get_a_clear_error(client, stream, data, encoding, status, code):
    reply = post(client, data, headers={"Content-Encoding": encoding})
    assert reply.status_code == status
    assert reply.json["error"] == code
    assert queued(stream) == []


def test_more_readings_than_allowed_is_413(settings, stream):
    client = create_app(settings.replace(max_readings_per_request=3)).test_client()
    reply = post(client, [meter(f"M{i}") for i in range(4)])
    assert reply.status_code == 413
    assert reply.json["error"] == "too_many_readings"
    assert queued(stream) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_body_that_is_not_json_is_415(client, content_type):
    reply = post(client, orjson.dumps(meter()), content_type=content_type)
    assert reply.status_code == 415
    assert reply.json["error"] == "unsupported_media_type"


def test_nothing_valid_is_422_with_the_reasons(client, stream):
    reply = post(client, [meter(voltage=0), vehicle(timestamp="2026-02-10T14:00:00")])
    assert reply.status_code == 422
    assert (reply.json["error"], reply.json["message"]) == (
        "no_valid_reading",
        "No valid reading in the body.",
    )
    assert reply.json["accepted"] == 0
    assert [r["index"] for r in reply.json["rejected"]] == [0, 1]
    assert queued(stream) == []


def test_empty_array_is_422(client):
    reply = post(client, [])
    assert reply.status_code == 422
    assert (reply.json["error"], reply.json["message"]) == ("empty_body", "The array is empty.")


def test_full_buffer_is_503_with_retry_after_and_nothing_queued(settings, stream):
    client = create_app(settings.replace(stream_max_readings=3)).test_client()
    assert post(client, [meter("A"), meter("B"), meter("C")]).status_code == 202
    reply = post(client, meter("D"))
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert reply.json["error"] == "buffer_full"
    assert [r[2] for r in queued(stream)] == ["A", "B", "C"]


def test_without_the_replicas_asked_for_no_202_is_given(settings, stream):
    # This Redis has no replica: WAIT confirms 0 of 1 (after half the Redis timeout).
    client = create_app(
        settings.replace(redis_replica_acks=1, redis_timeout_seconds=0.2)
    ).test_client()
    reply = post(client, [meter("A"), meter("B")])
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert reply.json["error"] == "buffer_not_replicated"
    assert "0 confirmed" in reply.json["message"]
    # The primary keeps them: the device's resend is stored once (history is keyed by reading).
    assert [r[2] for r in queued(stream)] == ["A", "B"]


def test_unreachable_redis_is_503_within_bounded_time(settings):
    down = settings.replace(redis_url="redis://127.0.0.1:9/0", redis_timeout_seconds=0.5)
    client = create_app(down).test_client()
    started = time.monotonic()
    reply = post(client, meter())
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert reply.json["error"] == "buffer_unavailable"
    assert time.monotonic() - started < 5


def test_a_redis_that_may_evict_gets_no_202_and_readyz_says_why(settings, private_redis):
    """With an allkeys-* policy and a memory limit, Redis may drop the stream or its counter:
    a 202 could not mean "kept", so ingest refuses until the operator sets noeviction."""
    app = create_app(settings.replace(redis_url=private_redis.url))
    services(app).eviction.every = 0  # ask Redis on every request, for the test
    client = app.test_client()
    redis_config = services(app).stream.redis
    redis_config.config_set("maxmemory", "256mb")
    redis_config.config_set("maxmemory-policy", "allkeys-lru")
    reply = post(client, meter("M1"))
    assert reply.status_code == 503
    assert reply.json["error"] == "buffer_unsafe"
    assert "maxmemory-policy allkeys-lru" in reply.json["message"]
    assert reply.headers["Retry-After"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "allkeys-lru" in orjson.loads(ready.data)["checks"]["redis"]
    assert services(app).stream.backlog() == 0
    redis_config.config_set("maxmemory-policy", "noeviction")
    assert post(client, meter("M1")).status_code == 202
    assert orjson.loads(client.get("/readyz").data)["checks"]["redis"] == "ok"


def test_ingest_needs_a_device_token(client, stream):
    assert post(client, meter(), headers={"Authorization": ""}).status_code == 401
    assert post(client, meter(), headers={"Authorization": "Bearer wrong"}).status_code == 401
    reply = post(client, meter(), headers={"Authorization": f"Bearer {ANALYST_TOKEN}"})
    assert reply.status_code == 403
    assert reply.json["error"] == "forbidden"
    assert queued(stream) == []


def test_auth_can_be_disabled_explicitly(settings, stream):
    client = create_app(settings.replace(auth_disabled=True)).test_client()
    reply = client.post("/v1/ingest", json=meter())
    assert reply.status_code == 202


def test_unknown_route_and_method_are_json_errors(client):
    assert client.get("/v1/nothing").json["error"] == "not_found"
    reply = client.get("/v1/ingest")
    assert reply.status_code == 405
    assert reply.json["error"] == "method_not_allowed"


def test_thousands_of_bad_readings_get_a_short_answer_that_counts_them(client, stream):
    body = gzip.compress(b"[" + b",".join([b"{}"] * 10_000) + b"]")
    assert len(body) < 200
    reply = post(client, body, headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 422
    assert reply.json["rejectedCount"] == 10_000
    assert reply.json["rejectedNotListed"] == 9_900
    assert [r["index"] for r in reply.json["rejected"]] == list(range(100))
    assert len(reply.data) < 30_000
    mixed = post(client, [meter("M1"), *[{}] * 150])
    assert mixed.status_code == 202
    assert (mixed.json["accepted"], mixed.json["rejectedCount"]) == (1, 150)
    assert len(mixed.json["rejected"]) == 100

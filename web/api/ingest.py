"""POST /v1/ingest: validate, normalise, and put the valid readings in the stream."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import orjson
import redis
from flask import Blueprint, g, make_response, request

import metrics
from buffer.stream import BufferFull, NotReplicated, queue
from devices import credentials
from devices.credentials import Device
from models.kinds import BY_NAME, KINDS
from readings.records import KIND, Record
from readings.validation import FIELDS, ReadingValidator, Rejection, classify
from web import routes
from web.auth import DEVICE, require
from web.contract import unknown_fields
from web.contract.bodies import BodyRefused, read_body
from web.errors import error
from web.services import Services, services

bp = Blueprint("ingest", __name__)

# Bound once, by a record's code: a labels() lookup per request is measurable on the
# single-reading path.
_ACCEPTED = {kind.code: metrics.READINGS_ACCEPTED.labels(kind.name) for kind in KINDS}
# Rejections listed in one answer, by index; the rest are counted.
MOST_REJECTIONS_LISTED = 100


@bp.post(routes.INGEST)
@require(DEVICE)
def ingest() -> Any:
    app_services = services()
    verdict = app_services.rate_limiter.check(g.token, g.device) if g.token else None
    if verdict is None:
        return _ingest(app_services)
    if not verdict.allowed:
        metrics.REQUESTS_REFUSED.labels("429").inc()
        body, status, headers = error(
            "rate_limited",
            f"This token may send {verdict.limit} requests a minute; nothing of this one was "
            "queued. Retry after the delay given.",
            429,
            verdict.reset_seconds,
        )
        return body, status, {**headers, **verdict.headers()}
    response = make_response(_ingest(app_services))
    response.headers.update(verdict.headers())
    return response


def _ingest(app_services: Services) -> Any:
    settings = app_services.settings
    if not request.is_json:
        return error(
            "unsupported_media_type", "Send the readings with Content-Type: application/json.", 415
        )
    try:
        data = read_body(request, settings.max_body_bytes)
    except BodyRefused as exc:
        return error(exc.code, exc.message, exc.status)
    try:
        body = parse_json(data)
    except (ValueError, RecursionError) as exc:
        return error("malformed_json", f"The body is not valid JSON: {exc}.", 400)
    if isinstance(body, dict):
        items = [body]
    elif isinstance(body, list):
        items = body
    else:
        return error(
            "malformed_body", "The body must be a reading object or an array of readings.", 400
        )
    if len(items) > settings.max_readings_per_request:
        return error(
            "too_many_readings",
            f"At most {settings.max_readings_per_request} readings per request; got {len(items)}.",
            413,
        )

    asked = unknown_fields.policy(request.headers.get(unknown_fields.HEADER))
    if asked is None:
        return error(
            "invalid_header",
            f"{unknown_fields.HEADER} is '{unknown_fields.REJECT}' (the default) or "
            f"'{unknown_fields.IGNORE}'.",
            400,
        )
    ignored = None
    if asked == unknown_fields.IGNORE:
        items, ignored = unknown_fields.strip(items)
    records, rejected = _validate(app_services.validator, items, g.device)
    _count_rejected(items, rejected)
    if not records:
        code, message = (
            ("empty_body", "The array is empty.")
            if not items
            else ("no_valid_reading", "No valid reading in the body.")
        )
        return error(code, message, 422, **_outcome(0, rejected, ignored))

    # 202 means durably queued: answered only once the stream has the entry, and never while
    # Redis may evict it.
    policy = app_services.eviction.policy()
    if policy:
        metrics.REQUESTS_REFUSED.labels("503").inc()
        return error(
            "buffer_unsafe",
            f"The ingest buffer may evict queued readings (Redis maxmemory-policy {policy}); "
            "the operator must set maxmemory-policy noeviction. Retry after the delay given.",
            503,
            settings.retry_after_seconds,
        )
    try:
        queue(app_services.stream, settings, records)
    except NotReplicated as exc:
        metrics.REQUESTS_REFUSED.labels("503").inc()
        return error(
            "buffer_not_replicated",
            f"The ingest buffer could not copy the readings to {exc.wanted} replica(s) in time "
            f"({exc.confirmed} confirmed); retry after the delay given.",
            503,
            settings.retry_after_seconds,
        )
    except BufferFull:
        metrics.REQUESTS_REFUSED.labels("503").inc()
        return error(
            "buffer_full",
            "The ingest buffer is full; retry after the delay given.",
            503,
            settings.retry_after_seconds,
        )
    except redis.RedisError:
        metrics.REQUESTS_REFUSED.labels("503").inc()
        return error(
            "buffer_unavailable",
            "The ingest buffer is not reachable; retry after the delay given.",
            503,
            settings.retry_after_seconds,
        )
    for code, count in Counter(r[KIND] for r in records).items():
        _ACCEPTED[code].inc(count)
    return _outcome(len(records), rejected, ignored), 202


def parse_json(data: bytes) -> Any:
    """The body's JSON, by one rule: a register never passes through a float (docs/DESIGN.md,
    "Registers"), and a number no float can hold (1e400) is a value for the validator to refuse
    by index, not a malformed body. orjson, several times faster, reads most bodies; a body that
    may carry a register (its name, or an escape that could spell it) or such a number is read
    again with its numbers as exact decimals. Both refuse NaN and Infinity."""
    if b"\\" in data or any(name in data for name in _REGISTERS):
        return _exactly(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not str(exc).startswith("number"):
            raise
        return _exactly(data)


# The registers' names as a body spells them (an escaped one is caught by its backslash).
_REGISTERS = tuple(f'"{kind.register.wire}"'.encode() for kind in KINDS if kind.register)


# A \\uD800-\\uDFFF escape: the only way a body can hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _exactly(data: bytes) -> Any:
    body = json.loads(data, parse_float=Decimal, parse_constant=_not_json)
    if _SURROGATE_ESCAPE.search(data):
        try:  # what orjson refuses, json takes: a lone surrogate, which no answer could carry
            json.dumps(body, default=str, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff)") from None
    return body


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _outcome(
    accepted: int, rejected: list[Rejection], ignored: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The answer's counts, with the first MOST_REJECTIONS_LISTED rejections: a small body of
    thousands of bad readings does not earn a megabyte-sized answer."""
    out: dict[str, Any] = {
        "accepted": accepted,
        "rejected": rejected[:MOST_REJECTIONS_LISTED],
        "rejectedCount": len(rejected),
    }
    if len(rejected) > MOST_REJECTIONS_LISTED:
        out["rejectedNotListed"] = len(rejected) - MOST_REJECTIONS_LISTED
    if ignored:
        out["ignoredFields"] = ignored
    return out


def _validate(
    validator: ReadingValidator, items: list[Any], device: Device | None
) -> tuple[list[Record], list[Rejection]]:
    """The validator's verdict, and with a per-device token, other devices' readings refused."""
    foreign = _foreign(items, device) if device else {}
    if not foreign:
        return validator.validate(items)
    kept = [i for i in range(len(items)) if i not in foreign]
    records, rejected = validator.validate([items[i] for i in kept])
    rejected = [{"index": kept[r["index"]], "errors": r["errors"]} for r in rejected]
    rejected += [{"index": i, "errors": errors} for i, errors in foreign.items()]
    return records, sorted(rejected, key=lambda r: r["index"])


def _foreign(items: list[Any], device: Device) -> dict[int, dict[str, list[str]]]:
    """By index, the readings this device's token may not write: another device's, and for a
    vehicle, a reading naming a meter it is not bound to (docs/DESIGN.md, "Trust")."""
    foreign = {}
    for index, item in enumerate(items):
        kind = classify(item)
        if not isinstance(kind, str):
            continue  # not a reading at all: the validator says why
        field = BY_NAME[kind].id_wire
        if not credentials.writes(device, kind, item.get(field)):
            foreign[index] = {field: [credentials.may_only(device)]}
        else:
            # The meters a reading names (a vehicle's meterId) must be bound to the device.
            unbound = [w for w in BY_NAME[kind].ref_wires if item.get(w) not in device.meters]
            if unbound:
                foreign[index] = {w: [_unbound(device, item.get(w))] for w in unbound}
    return foreign


def _unbound(device: Device, meter_id: Any) -> str:
    bound = ", ".join(sorted(device.meters)) or "none"
    return (
        f"Vehicle {device.id} is not bound to meter {meter_id}, so its token may not name it "
        f"(bound: {bound}). An operator binds it with `flask devices bind {device.id} "
        f"{meter_id}`."
    )


def _count_rejected(items: list[Any], rejected: list[dict[str, Any]]) -> None:
    for rejection in rejected:
        kind = classify(items[rejection["index"]])
        field = next(iter(rejection["errors"]), "")
        metrics.READINGS_REJECTED.labels(
            kind if isinstance(kind, str) else "unknown",
            field if field in FIELDS else "unknown_field",
        ).inc()

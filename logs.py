"""One log line per event, as key=value pairs or JSON (LOG_FORMAT), for web and workers alike.

Messages are written as `event=... key=value` already; this adds the time, level, process and,
inside a web request, its request id. Anything shaped like a bearer token is masked in the
finished line, so a token can never reach a log even if some library logs a header.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from settings import Settings

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# A bearer token: the scheme in any case, then blanks as written or as escaped on the way into a
# line (a tab becomes \t, or \u0009 in JSON); and a per-device token wherever it stands.
_BEARER = re.compile(r"(?i)(bearer(?:\s|\\[tnr]|\\u00[0-9a-f]{2})+)[^\s,;\"'\\]+")
_DEVICE_TOKEN = re.compile(r"evd_[A-Za-z0-9_-]+")


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def _redacted(line: str) -> str:
    """The finished line with anything shaped like a bearer token masked: checked once on what
    is written, exception text included, rather than on the message before formatting."""
    if "bearer" in line.lower():
        line = _BEARER.sub(r"\1[redacted]", line)
    return _DEVICE_TOKEN.sub("evd_[redacted]", line) if "evd_" in line else line


# A value that could pass for more than one value: whitespace, quotes, '=' or control characters.
_PLAIN = re.compile(r"[^\s\"'=\\\x00-\x1f\x7f]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class _Value:
    """A %s argument written as a JSON string when it is not plain, so a request path such as
    '/x%0Aevent=forged' or '/x status=500' stays one value on one line."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        if _PLAIN.fullmatch(self.value):
            return self.value
        return orjson.dumps(self.value).decode()

    def __repr__(self) -> str:
        return repr(self.value)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        head = (
            f"ts={_time(record)} level={record.levelname.lower()} logger={record.name} "
            f"pid={record.process}"
        )
        rid = getattr(record, "request_id", None)
        line = f"{head} {f'request_id={rid} ' if rid else ''}{_message(record)}"
        if record.exc_info:
            line += " exc=" + orjson.dumps(self.formatException(record.exc_info)).decode()
        return _redacted(line)


def _message(record: logging.LogRecord) -> str:
    """The message with its string arguments quoted when needed, and no control character left:
    one event is one line, whatever a client put in a path or a header."""
    message = str(record.msg)
    if isinstance(record.args, tuple) and record.args:
        args = tuple(_Value(a) if isinstance(a, str) else a for a in record.args)
        message = message % args
    elif record.args:
        message = record.getMessage()
    return _CONTROL.sub(lambda m: orjson.dumps(m.group()).decode()[1:-1], message)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: the message's key=value pairs become fields of their own (an
    argument keeps its type: `status=%d` is a number), anything else stays in `message`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        fields, rest = _fields(record)
        for key, value in fields.items():
            out.setdefault(key, value)
        if rest:
            out["message"] = rest
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _redacted(orjson.dumps(out, default=str).decode())


# `key=%s`, `key=%.1f`, `key=literal`: the shape of every message this service writes.
_PAIR = re.compile(r"([A-Za-z_][\w.]*)=(%[-+ #0-9.]*[sdifr]|[^\s%]+)")
_SPEC = re.compile(r"%[-+ #0-9.]*[sdifr]")


def _fields(record: logging.LogRecord) -> tuple[dict[str, Any], str]:
    """The pairs of a key=value message as typed fields, and the words that were not pairs."""
    args = record.args if isinstance(record.args, tuple) else ()
    if record.args and not args:  # a mapping of arguments: not one of ours
        return {}, record.getMessage()
    fields: dict[str, Any] = {}
    rest: list[str] = []
    remaining = list(args)
    try:
        for word in str(record.msg).split():
            pair = _PAIR.fullmatch(word)
            if pair is None:
                specs = _SPEC.findall(word)
                taken, remaining = remaining[: len(specs)], remaining[len(specs) :]
                rest.append(word % tuple(taken) if specs else word.replace("%%", "%"))
                continue
            key, spec = pair.groups()
            if not spec.startswith("%"):
                fields[key] = spec
                continue
            value = remaining.pop(0)
            fields[key] = _typed(spec, value)
    except (IndexError, TypeError, ValueError):
        return {}, record.getMessage()
    if remaining:
        return {}, record.getMessage()
    return fields, " ".join(rest)


def _typed(spec: str, value: Any) -> Any:
    if spec.endswith("d") or spec.endswith("i"):
        return int(value)
    if spec.endswith("f"):
        return float(spec % value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value) if spec.endswith("s") else repr(value)


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def handler(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if settings.log_format == "json" else KeyValueFormatter())
    out.addFilter(_Context())
    return out


def configure(settings: Settings, logger: logging.Logger | None = None) -> None:
    """Route `logger` (default: the root logger) through one handler in the chosen format."""
    # No line says where in the source it was logged from: skip finding the caller's frame,
    # a few microseconds of every request's log line.
    logging._srcfile = None
    target = logger or logging.getLogger()
    for old in list(target.handlers):
        target.removeHandler(old)
    target.addHandler(handler(settings))
    target.setLevel(settings.log_level.upper())

"""A request's body as the client meant it: read up to MAX_BODY_BYTES, gunzipped if it says so,
and never more than MAX_BODY_BYTES after decompression (a gzip bomb is a 413, not an outage)."""

from __future__ import annotations

import zlib

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

GZIP_WBITS = 16 + zlib.MAX_WBITS
# Compressed input goes to zlib in windows that start this small for each member and double up
# to the largest: at its end a member leaves over at most one window, which zlib copies.
FIRST_WINDOW, LARGEST_WINDOW = 64, 64 * 1024


class BodyRefused(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def read_body(request: Request, limit: int) -> bytes:
    # Flask reads at most MAX_CONTENT_LENGTH (one byte over the limit, see create_app) and stops
    # there without an error when the body is chunked: so more than the limit means too large,
    # never a truncated body parsed as malformed JSON.
    data = request.get_data(cache=False)
    if len(data) > limit:
        raise RequestEntityTooLarge
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding != "gzip":
        raise BodyRefused(
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not accepted; send gzip or an uncompressed body.",
            415,
        )
    return gunzip(data, limit)


def gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member of `data`, refused as soon as the output passes `limit` bytes.

    Input goes to zlib a window at a time, each member's first windows small: what a member
    leaves over is a copy of at most its last window, no larger than twice the member, so a body
    of thousands of tiny members costs time in proportion to its size (handing zlib the whole
    rest each time made it quadratic).
    """
    out = bytearray()
    view = memoryview(data)
    start = 0
    while start < len(data):
        inflater = zlib.decompressobj(GZIP_WBITS)
        size = FIRST_WINDOW
        while not inflater.eof and start < len(data):
            window = view[start : start + size]
            start += len(window)
            size = min(2 * size, LARGEST_WINDOW)
            try:
                out += inflater.decompress(window, limit + 1 - len(out))
            except zlib.error as exc:
                raise BodyRefused(
                    "malformed_gzip", f"The body is not valid gzip: {exc}.", 400
                ) from exc
            if len(out) > limit or inflater.unconsumed_tail:
                raise RequestEntityTooLarge
        if not inflater.eof:
            raise BodyRefused("malformed_gzip", "The gzip body ends before its end.", 400)
        start -= len(inflater.unused_data)
    return bytes(out)

"""The Flask (WSGI) app behind Granian's asynchronous interface (RSGI), so that no client can hold
what runs the app.

Under Granian's WSGI interface one thread carries a request from its first byte to its last: it
reads the body as the client sends it and writes the answer as the client takes it, so a client
that stalls its upload or never reads holds that thread for as long as its socket stays open.
Here each web process's event loop does all the waiting on clients, with deadlines:

- the body is read on the loop, at most MAX_BODY_BYTES of it, within BODY_TIMEOUT_SECONDS: a
  stall is a 408 and a body past the limit a 413, and the app never sees either;
- the app then runs on the whole body. Requests that never wait on PostgreSQL (`quick`: ingest,
  the liveness probe) run on the loop itself, which costs nothing per request; the rest run in
  a pool of WEB_THREADS threads, so a slow query never stalls the loop;
- the answer goes to Granian, which writes it as the client takes it: a file (the app's static
  assets, through PEP 3333's wsgi.file_wrapper) is read from disk as it goes; anything else is
  handed over whole when small, else made a piece at a time in the pool (a CSV export).

Idle connections never reach Python: Granian closes one whose request headers have not arrived
within HEADER_TIMEOUT_SECONDS, kept-alive ones included (web/serving/serve.py).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

import metrics
from web import routes

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[str, str]]

# An answer up to this size is made in one go and handed to Granian whole; a larger one is sent
# in pieces of about this size.
PIECE_BYTES = 256 * 1024
_BODYLESS = frozenset(("GET", "HEAD", "OPTIONS", "DELETE"))


class Refused(Exception):
    """The request's body cannot be taken: answered before the app sees it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RsgiAdapter:
    def __init__(
        self,
        app: WsgiApp,
        *,
        threads: int,
        max_body_bytes: int,
        body_timeout_seconds: float,
        quick: Callable[[Any], bool],
    ) -> None:
        self.app, self.quick = app, quick
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="web")
        self.max_body = max_body_bytes
        self.body_timeout = body_timeout_seconds
        self.environ: dict[str, Any] = {
            "SCRIPT_NAME": "",
            "wsgi.errors": sys.stderr,
            "wsgi.input_terminated": True,
            "wsgi.multiprocess": True,
            "wsgi.multithread": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }

    def __rsgi_del__(self, loop: Any) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        try:
            body = await self.body(scope, proto)
        except Refused as refused:
            log.info(
                "event=request_refused method=%s path=%s status=%d error=%s",
                scope.method,
                scope.path,
                refused.status,
                refused.code,
            )
            if scope.path == routes.INGEST:
                metrics.REQUESTS_REFUSED.labels(str(refused.status)).inc()
            proto.response_bytes(
                refused.status,
                [("content-type", "application/json"), ("connection", "close")],
                orjson.dumps({"error": refused.code, "message": refused.message}),
            )
            return
        environ = self.wsgi_environ(scope, body)
        if self.quick(scope):
            answer = run(self.app, environ)
        else:
            answer = await asyncio.get_running_loop().run_in_executor(
                self.pool, run, self.app, environ
            )
        if answer.path is not None:
            proto.response_file(answer.status, answer.headers, answer.path)
        elif answer.rest is None:
            proto.response_bytes(answer.status, answer.headers, answer.first)
        else:
            transport = proto.response_stream(answer.status, answer.headers)
            await self.send_pieces(transport, answer.first, answer.rest, scope.path)

    async def body(self, scope: Any, proto: Any) -> bytes:
        headers = scope.headers
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            return b""
        if declared is not None:
            if not declared.isdigit():
                raise Refused(400, "bad_request", "Content-Length is not a number.")
            if int(declared) > self.max_body:
                raise Refused(413, "body_too_large", _too_large(self.max_body))
        try:
            async with asyncio.timeout(self.body_timeout):
                # With a Content-Length the server stops at it; a chunked body is counted here.
                return await proto() if declared is not None else await self._bounded(proto)
        except TimeoutError:
            raise Refused(
                408,
                "body_timeout",
                f"The request body did not arrive within {self.body_timeout:g} s "
                "(BODY_TIMEOUT_SECONDS); nothing of it was kept. Send it again.",
            ) from None

    async def _bounded(self, proto: Any) -> bytes:
        chunks, size = [], 0
        async for chunk in proto:
            size += len(chunk)
            if size > self.max_body:
                raise Refused(413, "body_too_large", _too_large(self.max_body))
            chunks.append(chunk)
        return b"".join(chunks)

    async def send_pieces(
        self, transport: Any, first: bytes, rest: Iterator[bytes], path: str
    ) -> None:
        loop = asyncio.get_running_loop()
        piece: bytes | None = first
        try:
            while piece is not None:
                if piece:
                    await transport.send_bytes(piece)
                piece = await loop.run_in_executor(self.pool, next_piece, rest)
        except Exception as exc:  # the client went away: stop making it
            log.info("event=response_abandoned path=%s reason=%s", path, type(exc).__name__)
        finally:
            await loop.run_in_executor(self.pool, _close, rest)

    def wsgi_environ(self, scope: Any, body: bytes) -> dict[str, Any]:
        host, _, port = scope.server.rpartition(":")
        environ = {
            **self.environ,
            "REQUEST_METHOD": scope.method,
            # WSGI carries the path's bytes as latin-1; Granian gives them decoded as UTF-8.
            "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": host.strip("[]"),
            "SERVER_PORT": port,
            "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "REMOTE_ADDR": scope.client.rpartition(":")[0].strip("[]"),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.file_wrapper": FileWrapper,
        }
        if body or scope.method not in _BODYLESS:
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in scope.headers.items():
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
            elif name not in ("content-length", "transfer-encoding"):
                key = "HTTP_" + name.upper().replace("-", "_")
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ


@dataclass
class Answer:
    status: int
    headers: Headers
    first: bytes = b""
    # The rest of a large answer, still to be made; None when `first` is all of it.
    rest: Iterator[bytes] | None = None
    # A file on disk that is the whole answer.
    path: str | None = None


def run(app: WsgiApp, environ: dict[str, Any]) -> Answer:
    """Run the app: its whole answer when small, a file by its path, else the first piece and
    the rest to come."""
    started: list[Any] = []

    def start_response(status: str, headers: Headers, exc_info: Any = None) -> Callable[..., Any]:
        started[:] = [int(status.split(" ", 1)[0]), headers]
        return _no_write

    result = app(environ, start_response)
    if isinstance(result, FileWrapper) and (path := result.path()) is not None:
        result.close()
        status, headers = started
        return Answer(status, headers, path=path)
    rest = _Rest(result)
    first = next_piece(rest) or b""
    status, headers = started
    if len(first) < PIECE_BYTES:  # next_piece stopped short: the answer is complete
        rest.close()
        return Answer(status, headers, first)
    return Answer(status, headers, first, rest)


class FileWrapper:
    """PEP 3333's `wsgi.file_wrapper`: a file the app answers with. Read as any iterable if it
    must be; one that is a whole regular file on disk is sent by Granian from its path."""

    def __init__(self, file: Any, block_size: int = 8192) -> None:
        self.file, self.block_size = file, block_size

    def path(self) -> str | None:
        name = getattr(self.file, "name", None)
        try:
            whole = self.file.tell() == 0
        except (AttributeError, OSError):
            return None
        return name if isinstance(name, str) and whole and os.path.isfile(name) else None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self.file.read(self.block_size)
        if not data:
            raise StopIteration
        return bytes(data)

    def close(self) -> None:
        _close(self.file)


class _Rest:
    """What is left of a WSGI answer, closed once sent or abandoned, as PEP 3333 asks."""

    def __init__(self, result: Iterable[bytes]) -> None:
        self.result, self.chunks = result, iter(result)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        _close(self.result)


def next_piece(rest: Iterator[bytes]) -> bytes | None:
    """The next PIECE_BYTES or so of an answer (less only at its end); None once it is over."""
    pieces: list[bytes] = []
    size = 0
    for chunk in rest:
        pieces.append(chunk)
        size += len(chunk)
        if size >= PIECE_BYTES:
            break
    if not pieces:
        return None
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


def _no_write(data: bytes) -> None:
    raise NotImplementedError("write() is not supported: return the body instead")


def _too_large(limit: int) -> str:
    return f"The body is over the {limit}-byte limit (MAX_BODY_BYTES)."

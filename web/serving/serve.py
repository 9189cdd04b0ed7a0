"""`python -m web.serving.serve`: the Procfile's web process.

Granian (a Rust HTTP server) runs WEB_CONCURRENCY worker processes; HTTP parsing, keep-alive and
writing happen in Rust, outside the GIL, and the Flask app runs behind web/serving/rsgi.py,
which keeps every wait on a client off the threads that run it. Chosen over gunicorn (sync and
gthread) by `make bench ARGS="--servers"`: figures in docs/PERFORMANCE.md. A worker that dies is
replaced; on SIGTERM requests in flight get WEB_GRACEFUL_SECONDS (settings.py) to finish.

HTTP/1 only: in Granian's auto mode (HTTP/1 or cleartext HTTP/2) a new connection that sends
nothing is never timed out, and a thousand of them fill every worker's connection slots. With
HTTP/1 alone, HEADER_TIMEOUT_SECONDS closes it, as it closes an idle kept-alive connection.
Granian counts connections, not requests, against WEB_MAX_CONNECTIONS.
"""

from __future__ import annotations

import sys

from settings import WEB_GRACEFUL_SECONDS, Settings, get_settings


def preflight(settings: Settings) -> None:
    """Refuse to start, saying why, rather than serve on a port another process listens on
    (Granian's SO_REUSEPORT would share it silently), without tokens or a metrics directory, or
    with more database connections than PostgreSQL allows; warn when Redis may evict (ingest
    answers 503 while it lasts)."""
    import metrics
    import ports
    from storage.redis_client import RedisClusterRefused, refuse_cluster
    from web.auth import AuthNotConfigured, check_configured

    try:
        ports.require_free(settings.host, settings.port, "the web")
        check_configured(settings)
        metrics.require_shared_dir()
        refuse_cluster(settings)
    except (
        ports.PortTaken,
        AuthNotConfigured,
        metrics.MetricsDirUnusable,
        RedisClusterRefused,
    ) as exc:
        sys.stderr.write(f"ev web refuses to start: {exc}\n")
        raise SystemExit(1) from exc
    _warn_if_redis_may_evict(settings)
    from storage import connections

    connections.check_at_start(settings, "web", connections.web_most(settings))


def _warn_if_redis_may_evict(settings: Settings) -> None:
    from buffer.stream import IngestStream
    from storage.redis_client import client_for

    stream = IngestStream(client_for(settings), settings.redis_key_prefix)
    try:
        policy = stream.evicting_policy()
    except Exception:  # unreachable now: ingest answers 503 until it is back
        return
    finally:
        stream.redis.close()
    if policy:
        sys.stderr.write(
            f"ev web: Redis maxmemory-policy is {policy}: it may evict queued readings, so ingest "
            "answers 503 until it is set to noeviction\n"
        )


def _allow_open_files(wanted: int) -> None:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit): each
    connection is a file, and the soft limit is often 1,024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main() -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    settings = get_settings()
    preflight(settings)
    _allow_open_files(settings.web_max_connections * 2 + 256)
    Granian(
        "web.serving.wsgi:rsgi",
        interface=Interfaces.RSGI,
        address=settings.host,
        port=settings.port,
        workers=settings.web_concurrency,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=settings.header_timeout_seconds * 1000),
        backlog=max(1024, settings.web_max_connections),
        backpressure=settings.web_max_connections,
        # The app logs each request itself (web/serving/requests_log.py), in LOG_FORMAT.
        log_access=False,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
        workers_kill_timeout=WEB_GRACEFUL_SECONDS,
    ).serve()


if __name__ == "__main__":
    main()

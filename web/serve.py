"""`python -m web.serve`: the Procfile's web process.

Granian (a Rust HTTP server) runs the Flask app over WSGI: WEB_CONCURRENCY worker processes,
WEB_THREADS threads each running the app; HTTP parsing, keep-alive and writing happen in Rust,
outside the GIL. Chosen over gunicorn (sync and gthread) by `make bench ARGS="--servers"`:
figures in docs/PERFORMANCE.md. A worker that dies is replaced; on SIGTERM requests in flight get
GRACEFUL_SECONDS to finish.

Granian's backpressure stays at its default (the backlog shared out among workers): it counts
connections, not requests, so a small one lets a few idle keep-alive connections shut every
other client out.
"""

from __future__ import annotations

import sys

from settings import Settings, get_settings

GRACEFUL_SECONDS = 20


def preflight(settings: Settings) -> None:
    """Refuse to start, saying why, rather than serve without tokens or a metrics directory; warn
    when Redis may evict (ingest answers 503 while it lasts)."""
    import metrics
    from web.auth import AuthNotConfigured, check_configured

    try:
        check_configured(settings)
        metrics.require_shared_dir()
    except (AuthNotConfigured, metrics.MetricsDirUnusable) as exc:
        sys.stderr.write(f"ev web refuses to start: {exc}\n")
        raise SystemExit(1) from exc
    _warn_if_redis_may_evict(settings)


def _warn_if_redis_may_evict(settings: Settings) -> None:
    from models.redis_client import client_for
    from models.stream import IngestStream

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


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    settings = get_settings()
    preflight(settings)
    Granian(
        "web.wsgi:app",
        interface=Interfaces.WSGI,
        address=settings.host,
        port=settings.port,
        workers=settings.web_concurrency,
        blocking_threads=settings.web_threads,
        # The app logs each request itself (web/requests_log.py), in LOG_FORMAT.
        log_access=False,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_SECONDS,
    ).serve()


if __name__ == "__main__":
    main()

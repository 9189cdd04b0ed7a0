"""gunicorn settings, from settings.py. Used by the Procfile's `web` process."""

import sys

import logs
from settings import get_settings
from web.auth import AuthNotConfigured, check_configured

_settings = get_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_concurrency
threads = _settings.web_threads
worker_class = "gthread" if _settings.web_threads > 1 else "sync"
# In-flight requests get this long to finish on SIGTERM.
graceful_timeout = 20
timeout = 30
keepalive = 5
# gunicorn's runtime control socket is one fixed path per user: two services on a host would
# fight over it, and nothing here uses it.
control_socket_disable = True


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    logs.configure(_settings)


def on_starting(server):  # type: ignore[no-untyped-def]
    import metrics

    try:
        check_configured(_settings)
        metrics.require_shared_dir()
    except (AuthNotConfigured, metrics.MetricsDirUnusable) as exc:
        sys.stderr.write(f"ev web refuses to start: {exc}\n")
        sys.exit(1)
    _warn_if_redis_may_evict()


def _warn_if_redis_may_evict() -> None:
    # Ingest answers 503 while it lasts (it cannot promise a 202 is kept): say so at start too.
    from models.redis_client import client_for
    from models.stream import IngestStream

    stream = IngestStream(client_for(_settings), _settings.redis_key_prefix)
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

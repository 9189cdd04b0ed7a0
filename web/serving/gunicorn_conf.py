"""gunicorn settings, from settings.py: the measured alternative to Granian
(web/serving/serve.py, the Procfile's), kept for `make bench ARGS="--servers"` and for sites
that standardise on gunicorn:
`gunicorn --config web/serving/gunicorn_conf.py "web:create_app()"`."""

import logs
from settings import WEB_GRACEFUL_SECONDS, get_settings

_settings = get_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_concurrency
threads = _settings.web_threads
worker_class = "gthread" if _settings.web_threads > 1 else "sync"
graceful_timeout = WEB_GRACEFUL_SECONDS
timeout = 30
keepalive = 5
# gunicorn's runtime control socket is one fixed path per user: two services on a host would
# fight over it, and nothing here uses it.
control_socket_disable = True


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    logs.configure(_settings)


def on_starting(server):  # type: ignore[no-untyped-def]
    from web.serving.serve import preflight

    preflight(_settings)

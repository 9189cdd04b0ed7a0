"""The WSGI application as a module attribute, for servers that import one (`web.wsgi:app`):
Granian in the benchmark's server comparison. gunicorn (the Procfile's) calls the factory."""

import logs
from settings import get_settings
from web import create_app

logs.configure(get_settings())
app = create_app()

"""The WSGI application as a module attribute, imported by each of Granian's worker processes
(web/serve.py, the Procfile's web). gunicorn, the measured alternative, calls the factory."""

import logs
from settings import get_settings
from web import create_app

logs.configure(get_settings())
app = create_app()

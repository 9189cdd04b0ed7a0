"""Serving the app: the process that runs it (serve.py), its WSGI/RSGI entries, the request log
and the browser-facing headers."""

# The runtime image: the Procfile's processes and only what they run. No tests, bench, simulator
# or development packages: requirements.txt is the lock of pyproject.toml's `dependencies` alone
# (tests/e2e/test_compose_run.py runs the services from exactly these files and packages).
# docker-compose.yml picks each service's command; the default is web's.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --require-hashes -r requirements.txt
COPY Procfile alembic.ini settings.py celeryconfig.py logs.py metrics.py ports.py csv_cells.py jobs.py ./
COPY migrations migrations
COPY models models
COPY storage storage
COPY readings readings
COPY devices devices
COPY buffer buffer
COPY efficiency efficiency
COPY cli cli
COPY chargers chargers
COPY workers workers
COPY web web
# A user of its own, owning the only two directories the service writes: DATA_DIR (beat's
# schedule) and METRICS_DIR (this container's Prometheus samples; docker-compose.yml mounts a
# tmpfs there, so each start begins with none).
RUN useradd --system --uid 10001 --user-group --home-dir /srv/ev --shell /usr/sbin/nologin ev \
    && install -d -o ev -g ev /srv/ev/data /srv/ev/metrics
ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/srv/ev/data METRICS_DIR=/srv/ev/metrics
USER ev
EXPOSE 8000
# Web's readiness (the default command's); docker-compose.yml gives the other services theirs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 CMD ["python", "-c", \
    "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/readyz')"]
CMD ["python", "-m", "web.serving.serve"]

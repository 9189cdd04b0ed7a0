# One image for every process of the Procfile; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# A user of its own, owning the only two directories the service writes: DATA_DIR (beat's
# schedule) and METRICS_DIR (every process's Prometheus samples). docker-compose.yml mounts one
# volume at METRICS_DIR for all app containers; a new volume takes its owner from the image.
RUN useradd --system --uid 10001 --user-group --home-dir /srv/ev --shell /usr/sbin/nologin ev \
    && install -d -o ev -g ev /srv/ev/data /srv/ev/metrics
ENV HOST=0.0.0.0 DATA_DIR=/srv/ev/data METRICS_DIR=/srv/ev/metrics PYTHONUNBUFFERED=1
USER ev

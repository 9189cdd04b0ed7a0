# One image for every process of the Procfile; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV HOST=0.0.0.0 DATA_DIR=/tmp/ev PYTHONUNBUFFERED=1
USER nobody

# `make help` lists the targets. Everything runs from .venv, made on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lock lock-check system-tools run demo simulate flask test test-fast lint format typecheck migrate bench bench-smoke bench-profile clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

# The locks: pyproject.toml's dependencies (requirements.txt, the image's) and with every extra
# (requirements-dev.txt, the checkout's), pinned with hashes; each keeps its pins until asked.
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --quiet --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"

$(INSTALLED): requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

install: $(INSTALLED) ## Make .venv and install the locked requirements (requirements-dev.txt)

lock: install ## Lock pyproject.toml's dependencies again (ARGS="--upgrade-package celery" to move one)
	$(UV_COMPILE) $(ARGS) -o requirements.txt
	$(UV_COMPILE) $(ARGS) --all-extras -o requirements-dev.txt

lock-check: install ## Fail when the lock files no longer match pyproject.toml (`make lock` mends)
	@tmp=$$(mktemp -d); cp requirements.txt requirements-dev.txt $$tmp/; \
	$(UV_COMPILE) -o $$tmp/requirements.txt && \
	$(UV_COMPILE) --all-extras -o $$tmp/requirements-dev.txt && \
	diff -u requirements.txt $$tmp/requirements.txt && \
	diff -u requirements-dev.txt $$tmp/requirements-dev.txt \
	  || { echo "lock-check: the lock files do not match pyproject.toml: run make lock"; exit 1; }; \
	rm -rf $$tmp

system-tools: ## Install Debian's wrk, chromium(-driver), redis-server, socat, iproute2, pgbouncer, prometheus (promtool), nginx, docker-compose if missing
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v socat >/dev/null || missing="$$missing socat"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -x /usr/bin/chromedriver || missing="$$missing chromium-driver"; \
	command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || missing="$$missing pgbouncer"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

run: install ## Run web, worker and beat; embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set
	$(PY) -m tools.local serve

demo: install ## make run plus the simulator: a small fleet streaming in; prints the dashboard URL
	$(PY) -m tools.local demo

simulate: install ## A simulated fleet sent to `make run`'s service: make simulate ARGS="--vehicles 50 --rate 500"
	$(PY) -m tools.local exec -- $(PY) -m simulator $(ARGS)

flask: install ## A flask command against `make run`'s servers: make flask ARGS="refresh-performance"
	$(PY) -m tools.local exec -- $(VENV)/bin/flask --app web $(ARGS)

# Test processes (pytest-xdist): most tests wait on servers and processes, so more than the cores.
TEST_WORKERS ?= 4

test: install system-tools lock-check lint typecheck ## Lint, type-check and run every test (embedded servers unless URLs set)
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-fast: install ## The edit-test loop: no browser, spawned services, fault tests or system packages
	HYPOTHESIS_PROFILE=fast $(PY) -m pytest -n $(TEST_WORKERS) -m "(unit or project) and not system" $(PYTEST_ARGS)

lint: install ## ruff: lint and check formatting
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install ## ruff: fix what can be fixed and format
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: install ## mypy
	$(PY) -m mypy

migrate: install ## Apply migrations (to DATABASE_URL, else to `make run`'s database)
	$(PY) -m tools.local exec -- $(VENV)/bin/alembic upgrade head

bench: install system-tools ## Fleet-scale benchmark (~16 min): docs/PERFORMANCE.md; ARGS="--sweep" or "--capacity"
	$(PY) -m bench $(ARGS)

bench-smoke: install system-tools ## The benchmark at a tiny size (under a minute); docs untouched
	$(PY) -m bench --vehicles 100 --hours 0.5 --seconds 2 --no-docs --out $(or $(OUT),.data/bench)

bench-profile: install system-tools ## py-spy profiles of web and a consumer under the bench's loads
	$(PY) -m bench.profile

clean: ## Remove .venv and local data (embedded databases, beat schedule)
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

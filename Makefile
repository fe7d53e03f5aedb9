# The two commands of the README: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 3

.PHONY: run test install migrate demo serve worker lint format typecheck bench clean

# Reinstalls when pyproject.toml changes. A .venv whose python is gone (moved, or made by another
# interpreter) is rebuilt rather than half-used. The stamp is written only after a full install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python && $(BIN)/python -c "" 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

run: demo serve

serve: install
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

# A Celery worker on its own: for more workers beside `make run` (whose worker runs beat), or for
# a web server started with `manage.py serve --no-worker` (then run `celery -A config beat` too).
# Tasks go through Redis with REDIS_URL set, else through files under var/celery/
worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

# Tests always use config.settings.test, whatever DJANGO_SETTINGS_MODULE the shell exports.
# The database and broker come from DATABASE_URL / REDIS_URL (SQLite and in-process without).
test: export DJANGO_SETTINGS_MODULE = config.settings.test
test: install
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests, which is a failure." >&2; fi; \
	exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/djlint templates --lint

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy core projects labeling agreement exports overview config

bench: install
	$(BIN)/python bench/import.py

clean:
	rm -rf $(VENV) var/staticfiles var/test-media

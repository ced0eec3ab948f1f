# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := postgresql,mysql,redis,serve,dev

.PHONY: run test test-long lint seed simulate serve bench bench-quick soak clean screenshots

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

## run: set up, seed the SQLite sample district if missing, start the dashboard with the live feed
run: $(STAMP)
	$(PY) -m dashboard serve --seed-if-missing --with-feed

## test: set up and run the test suite (the soak and benchmark runs marked `long` are `make test-long`)
test: $(STAMP)
	$(PY) -m pytest -q -n 4 --dist loadgroup -m "not long"

## test-long: the tests of minutes each (the soak runs: a real wall tab with its server, 200 screens with
## the live feed, a wall beside the feed for its cycles)
test-long: $(STAMP)
	$(PY) -m pytest -q -m long

lint: $(STAMP)
	$(VENV)/bin/ruff check dashboard callbacks layouts tests
	$(VENV)/bin/ruff format --check dashboard callbacks layouts tests
	$(VENV)/bin/mypy dashboard callbacks layouts
	$(VENV)/bin/lint-imports --no-cache

seed: $(STAMP)
	$(PY) -m dashboard seed

simulate: $(STAMP)
	$(PY) -m dashboard simulate

## screenshots: thumbnails of every page and wall size into data/screens (needs `make run` running)
screenshots: $(STAMP)
	$(PY) -m dashboard screenshots

## serve: production server, gunicorn with several workers on DASHBOARD_HOST:DASHBOARD_PORT, and a builder
## process that keeps the screens' views fresh and draws their boards ahead (dashboard/web/gunicorn_conf.py)
## (shares DASHBOARD_CACHE_URL=redis://… when set, else the on-disk cache; source = DASHBOARD_DATABASE_URL)
WORKERS ?= 3
THREADS ?= 4
serve: $(STAMP)
	$(VENV)/bin/gunicorn -c python:dashboard.web.gunicorn_conf --workers $(WORKERS) --threads $(THREADS) \
	  -k dashboard.web.gunicorn_worker.JsonErrorWorker \
	  --bind "$${DASHBOARD_HOST:-127.0.0.1}:$${DASHBOARD_PORT:-8050}" \
	  --timeout 120 --graceful-timeout 10 --access-logfile - dashboard.web.wsgi:server

## bench: the district-scale benchmark (≥1M and 10M events on SQLite and PostgreSQL; long, outside CI)
bench: $(STAMP)
	$(PY) -m dashboard bench --mode full --http-rollups

## bench-quick: the same measurements on a small district (about 1-2 minutes)
bench-quick: $(STAMP)
	$(PY) -m dashboard bench --mode quick --http-rollups

## soak: 200 screens polling (API and page updates) against gunicorn with Redis and the live feed for an
## hour, then one wall tab in headless Chromium for 5,000 refresh cycles of 1 s (about 85 minutes); fails on
## any error, growing worker memory, or a wall tab whose JS heap, DOM nodes or listeners grow by more than
## 10 % from cycle 500 to the end. Report: data/soak/latest.md (SOAK_MINUTES=10 SOAK_CLIENTS=200
## SOAK_WALL_CYCLES=600 for other sizes)
SOAK_MINUTES ?= 60
SOAK_CLIENTS ?= 200
SOAK_WALL_CYCLES ?= 5000
soak: $(STAMP)
	$(PY) -m dashboard soak --minutes $(SOAK_MINUTES) --clients $(SOAK_CLIENTS) --wall-cycles $(SOAK_WALL_CYCLES)

clean:
	rm -rf $(VENV) data/*.db data/*.db-* data/cache

## soak-wall: only the wall tab of `make soak` (SOAK_WALL_CYCLES=600 for a shorter run)
.PHONY: soak-wall
soak-wall: $(STAMP)
	$(PY) -m dashboard soak --sections wall --wall-cycles $(SOAK_WALL_CYCLES)

# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := postgresql,mysql,redis,serve,dev

.PHONY: run test lint seed simulate serve bench bench-quick soak clean screenshots

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

## run: set up, seed the SQLite sample district if missing, start the dashboard with the live feed
run: $(STAMP)
	$(PY) -m dashboard serve --seed-if-missing --with-feed

## test: set up and run the test suite
test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check dashboard callbacks layouts tests
	$(VENV)/bin/ruff format --check dashboard callbacks layouts tests
	$(VENV)/bin/mypy dashboard

seed: $(STAMP)
	$(PY) -m dashboard seed

simulate: $(STAMP)
	$(PY) -m dashboard simulate

## screenshots: thumbnails of every page and wall size into data/screens (needs `make run` running)
screenshots: $(STAMP)
	$(PY) -m dashboard screenshots

clean:
	rm -rf $(VENV) data/*.db data/*.db-* data/cache

# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run dev test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(PY)
	$(PY) -m pip install -q -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt requirements/base.txt | $(PY)
	$(PY) -m pip install -q -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

## Install what is missing and run the whole portal (embedded services, web, worker, beat).
run: $(VENV)/.base-installed
	$(PY) manage.py up

## The same with auto-reload of the web server.
dev: $(VENV)/.base-installed
	$(PY) manage.py up --dev

## Install what is missing and run every test against real PostgreSQL, Redis and S3.
test: $(VENV)/.dev-installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## The upload bench, then the 10-minute load and soak (figures into docs/benchmarks.md).
bench: $(VENV)/.dev-installed
	$(PY) bench/upload.py
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) var .pytest_cache

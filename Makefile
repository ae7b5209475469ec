# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run dev test browser lint bench clean

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
## Log lines are plain text here, for a person at a console (LOG_FORMAT=json for JSON lines).
run: $(VENV)/.base-installed
	LOG_FORMAT=$${LOG_FORMAT:-plain} $(PY) manage.py up

## The same with auto-reload of the web server.
dev: $(VENV)/.base-installed
	LOG_FORMAT=$${LOG_FORMAT:-plain} $(PY) manage.py up --dev

CHROMIUM ?= /usr/bin/chromium

## The browser tests drive Debian's chromium; install it through apt when it is missing and
## we may (CI runs as root). Without it those tests fail and say why; they never skip.
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's chromium for the browser tests ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "No $(CHROMIUM): the browser tests will fail. Install it with: sudo apt-get install chromium"; \
		fi; \
	fi

## Install what is missing and run every test against real PostgreSQL, Redis and S3.
test: $(VENV)/.dev-installed browser
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

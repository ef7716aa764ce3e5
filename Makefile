# juego: `make run` starts the whole system on SQLite, `make test` runs every check.
# Both set themselves up from a fresh clone (virtualenv, dependencies, system packages).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The checkout is on PYTHONPATH: twistd finds twisted/plugins/ there (an editable install
# alone would not put it where twistd looks).
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: run test lint format typecheck bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres,redis]'
	touch $@

run: $(STAMP)
	$(BIN)/twistd --nodaemon --pidfile= juego

# Debian packages the tests drive: Chromium for the browser test (never a browser that a
# test tool downloads), nginx with its stream module for the multi-node test, systemd for
# systemd-analyze (the units in deploy/systemd), the PostgreSQL client tools (pg_dump,
# pg_restore) for the backup runbook.
SYSTEM_PACKAGES := chromium nginx libnginx-mod-stream systemd postgresql-client

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the tests:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o Dpkg::Options::=--force-confold $$missing >/dev/null; \
	fi

SOURCES := juego tests bench tools twisted

# Gates that block: a lint finding, a formatting slip or a type error fails make test.
lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

format: $(STAMP)
	$(BIN)/ruff format $(SOURCES)
	$(BIN)/ruff check --fix $(SOURCES)

typecheck: $(STAMP)
	$(BIN)/mypy juego

test: $(STAMP) system-deps lint typecheck
	$(BIN)/trial --random=0 tests

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) _trial_temp .hypothesis .ruff_cache

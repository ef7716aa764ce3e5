# juego: `make run` starts the whole system on SQLite, `make test` runs every check.
# Both set themselves up from a fresh clone (virtualenv, dependencies, system packages).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
STAMP     := $(VENV)/.installed-stamp
# The checkout is on PYTHONPATH: twistd finds twisted/plugins/ there (an editable install
# alone would not put it where twistd looks).
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: run test check lint format typecheck bench system-deps axe clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# make run installs only what running needs; make test adds the test tools and the
# PostgreSQL and Redis drivers.
# setuptools warns at length about every editable install of a flat layout (the checkout is
# on PYTHONPATH anyway, which is what it warns of): silenced, so a newcomer sees no warning.
PIP := PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install --quiet

$(RUN_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $@

$(STAMP): $(RUN_STAMP)
	$(PIP) -e '.[test,postgres,redis]'
	touch $@

# Ctrl-C stops twistd cleanly; twistd then ends by the signal, as a Unix program should,
# and the trap keeps make from reporting that as an error.
run: $(RUN_STAMP)
	@echo "juego: open http://127.0.0.1:5000/ once it is up (Ctrl-C stops it)"
	@trap true INT; $(BIN)/twistd --nodaemon --pidfile= juego || [ $$? -eq 130 ]

# Debian packages the tests drive: Chromium for the browser test (never a browser that a
# test tool downloads), nginx with its stream module for the multi-node test, hunspell and
# its Spanish and US English dictionaries for the word-list test (and tools/make_wordlists.py),
# Tesseract for the OCR attack on the certification image, systemd for systemd-analyze (the
# units in deploy/systemd), the PostgreSQL client tools (pg_dump, pg_restore) for the backup
# runbook, iproute2 for the fault test's network namespaces (it also runs PostgreSQL's
# server binaries, which a machine that runs the PostgreSQL tests has).
SYSTEM_PACKAGES := chromium nginx libnginx-mod-stream hunspell hunspell-es hunspell-en-us \
	tesseract-ocr tesseract-ocr-eng systemd postgresql-client iproute2

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the tests:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o Dpkg::Options::=--force-confold $$missing >/dev/null; \
	fi

# axe-core for the accessibility test (tests/test_accessibility.py), from the npm registry at
# the version pinned in tests/axe/package-lock.json. npm comes with Node.js; where it does
# not (Debian's own nodejs), Debian's npm package brings it.
AXE := tests/axe/node_modules/axe-core/axe.min.js

$(AXE): tests/axe/package.json tests/axe/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	npm ci --prefix tests/axe --no-audit --no-fund --silent
	touch $@

axe: $(AXE)

SOURCES := juego tests bench tools twisted

# Gates that block: a lint finding, a formatting slip or a type error fails make test.
lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

format: $(STAMP)
	$(BIN)/ruff format $(SOURCES)
	$(BIN)/ruff check --fix $(SOURCES)

typecheck: $(STAMP)
	$(BIN)/mypy juego tests/websupport.py

# Coverage of the test process (report printed; setup.cfg holds the floor, which only rises).
test: $(STAMP) system-deps axe lint typecheck
	$(BIN)/coverage run -m twisted.trial --random=0 tests
	$(BIN)/coverage report

# The quick loop while working: lint and format, then every test module but those that
# start real processes, browsers or nginx (make test runs everything).
SLOW_TESTS := test_reliability test_multinode test_browser test_browser_typing test_browser_replay test_replay_timeline test_tcp_integration \
	test_dist_integration test_logging_integration test_tls test_faults test_attacks test_schemathesis \
	test_install test_nginx_example test_configfile test_accessibility
FAST_TESTS = $(filter-out $(SLOW_TESTS),$(basename $(notdir $(wildcard tests/test_*.py))))

check: $(STAMP) lint
	$(BIN)/trial --random=0 $(addprefix tests.,$(FAST_TESTS))

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(PIP) -e '.[bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) _trial_temp .hypothesis .ruff_cache tests/axe/node_modules

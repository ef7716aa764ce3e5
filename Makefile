# juego: `make run` starts the whole system on SQLite, `make test` runs every check.
# Both set themselves up from a fresh clone (virtualenv, dependencies, system packages).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The checkout is on PYTHONPATH: twistd finds twisted/plugins/ there (an editable install
# alone would not put it where twistd looks).
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: run test lint typecheck bench browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $@

run: $(STAMP)
	$(BIN)/twistd --nodaemon --pidfile= juego

# Debian's Chromium for the browser tests (never a browser downloaded by a test tool).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check juego tests bench tools twisted

typecheck: $(STAMP)
	$(BIN)/mypy juego

test: $(STAMP) browser-deps lint
	$(BIN)/trial --random=0 tests

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) _trial_temp .hypothesis .ruff_cache

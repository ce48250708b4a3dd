# Two entry points for newcomers: `make run` and `make test`. Everything else is detail.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DB     ?= sqlite+aiosqlite:///var/simrelay.db
LISTEN ?= 127.0.0.1:8080

.PHONY: run test lint typecheck unit venv clean bench

$(BIN)/simrelay: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/simrelay

venv: $(BIN)/simrelay

run: venv
	mkdir -p var
	$(BIN)/simrelay db upgrade --db $(DB)
	$(BIN)/simrelay serve --db $(DB) --listen $(LISTEN)

lint: venv
	$(BIN)/ruff check gatewayd api tests bench
	$(BIN)/lint-imports
	# Silent follow: api/pusher's package __init__ pulls in the whole API, which is not under mypy yet.
	$(BIN)/mypy --follow-imports=silent gatewayd/at gatewayd/sms gatewayd/hardware api/pusher/protocol.py api/pusher/wire.py

# A postgresql+asyncpg:// URL of a server (the test fixtures create a database per test on it): the
# database tests (tests/store, tests/services, tests/pg, the many-hosts system tests) then run on SQLite AND
# PostgreSQL in the same pytest run. .ci/run sets it; empty means SQLite only (tests/pg skip, or fail under CI).
SIMRELAY_TEST_PG ?=

test: lint
	# The real pusher-js client and pusher server SDK for tests/e2e_js (they fail, not skip, without them).
	npm ci --prefix tests/e2e_js --no-audit --no-fund
	SIMRELAY_TEST_PG="$(SIMRELAY_TEST_PG)" $(BIN)/pytest

bench: venv
	$(BIN)/python -m bench $(NAME)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# lightclient developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install tools demo test lint typecheck unit bench fuzz-long clean contracts

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# anvil (a real Ethereum node) for the integration tests, pinned in tools/package-lock.json.
tools/node_modules/.installed: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

tools: tools/node_modules/.installed

# The main job on the embedded default: mine a chain on in-process py-evm and index it.
demo: install
	$(VENV)/bin/lightclient dev

lint: install
	$(VENV)/bin/ruff check lightclient tests benchmarks
	$(VENV)/bin/ruff format --check lightclient tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

unit: install tools
	$(VENV)/bin/pytest

test: lint typecheck unit

bench: install
	$(PY) benchmarks/bench_sections.py
	$(PY) benchmarks/bench_pool.py
	$(PY) benchmarks/bench_rlpx.py
	$(PY) benchmarks/bench_les.py
	$(PY) benchmarks/bench_consensus.py

# The long fuzz run of the JSON-RPC endpoint (100,000 requests; not part of CI).
fuzz-long: install
	$(PY) benchmarks/fuzz_rpc.py --requests 100000

clean:
	rm -rf $(VENV) tools/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Rebuild lightclient/oracle/CheckpointOracle.json from contracts/CheckpointOracle.sol.
contracts: tools
	node contracts/build.js

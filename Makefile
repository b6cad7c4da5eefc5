# Set-up and everyday commands; `make demo` and `make test` work on a fresh clone.
VENV ?= .venv
BIN := $(VENV)/bin
# Python 3.12 or newer (pyenv resolves python3.12 through .python-version).
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)

.PHONY: demo test lint format bench bench-references bench-memory clean

$(BIN)/forge: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else \
		"ARCO Forge needs Python >= 3.12; set PYTHON=/path/to/python3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	@touch $@

## demo: set up, then run the whole path offline (forge demo)
demo: $(BIN)/forge
	$(BIN)/forge demo

## test: set up, then lint, type-check (mypy, strict) and run the test suite, one test
## process per core (each module's tests stay in one process, sharing its fixtures)
test: $(BIN)/forge
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m tests -n auto --dist loadscope

lint: $(BIN)/forge
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/forge
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: the copy benchmark (about 10 minutes; see bench/README.md)
bench: $(BIN)/forge
	$(BIN)/python bench/copy_benchmark.py

## bench-references: the references benchmark against kerchunk (about 3 minutes)
bench-references: $(BIN)/forge
	$(BIN)/python bench/references_benchmark.py

## bench-memory: the memory estimate against the measured peak (about 10 minutes)
bench-memory: $(BIN)/forge
	$(BIN)/python bench/memory_benchmark.py

clean:
	rm -rf $(VENV) forge-output forge-demo

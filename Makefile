# Two commands: `make test` runs the whole test suite, `make book` builds the executed book.
# Both create the local environment in .venv first if it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch is installed first: a bare torch requirement would pull a CUDA build.
TORCH ?= torch==2.13.0

.PHONY: test book lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[book,dev]"
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest

book: $(STAMP)
	$(BIN)/python book/build.py --out book/_build

lint: $(STAMP)
	$(BIN)/ruff check src tests book data_scripts
	$(BIN)/ruff format --check src tests book data_scripts

clean:
	rm -rf book/_build

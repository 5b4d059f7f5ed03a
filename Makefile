# Two commands: `make test` runs the whole test suite, `make book` builds the executed book.
# Both create the local environment in .venv first if it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch is installed first: a bare torch requirement would pull a CUDA build.
TORCH ?= torch==2.13.0

.PHONY: test book lint clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[book,dev]"
	touch $@

# The browser tests skip where Chromium is missing, except here: make test installs it and must run them.
test: $(STAMP) chromium
	AUHEAT_BROWSER_REQUIRED=1 $(BIN)/python -m pytest

# tests/test_browser.py drives Debian's Chromium and its driver; CI is a fresh Debian machine,
# as root (sudo otherwise).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || \
		($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

book: $(STAMP)
	$(BIN)/python book/build.py --out book/_build

lint: $(STAMP)
	$(BIN)/ruff check src tests book data_scripts
	$(BIN)/ruff format --check src tests book data_scripts

clean:
	rm -rf book/_build

# The two commands of the README: `make serve` and `make test`. Each creates ./.venv if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test browser-test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/bookstrack serve --config config.toml

test: $(STAMP)
	$(BIN)/ruff check actors bookstrack tests bench
	$(BIN)/python -m pytest

# The dashboard in headless Chromium (tests/browser), a step of its own after `make test`. Installs
# Debian's chromium and chromium-driver with apt when they are missing (as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-test: $(STAMP)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }
	BOOKSTRACK_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser -rs -s

bench: $(STAMP)
	$(BIN)/python -m bench.report

clean:
	rm -rf $(VENV)

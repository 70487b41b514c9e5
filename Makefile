# The README's commands. Each one works on a fresh machine that has Python 3.10+ and make:
# the first run creates .venv and installs proxylab with its lab and dev extras.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup tour forward reverse check lint test notebooks lab bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## the main job: a guided terminal tour of both proxies, charts saved to tour-output/
tour: setup
	$(BIN)/proxylab tour

forward: setup
	$(BIN)/proxylab forward

reverse: setup
	$(BIN)/proxylab reverse --backend 127.0.0.1:9001 127.0.0.1:9002

## the whole check: lint, types, tests (this is what CI runs)
check: setup lint test

lint: setup
	$(BIN)/ruff check proxylab tests bench
	$(BIN)/ruff format --check proxylab tests bench
	$(BIN)/mypy

test: setup
	$(BIN)/python -m pytest

## JupyterLab on notebooks/ (installs it on first use)
lab: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,notebook]'
	$(BIN)/jupyter lab notebooks/

bench: setup
	$(BIN)/python bench/bench_forward.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tour-output

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

## the friend on 127.0.0.1:8080 with the lab's demo sites (news.test ...); its panel prints curl lines
forward: setup
	$(BIN)/proxylab forward --lab

## the waiter on 127.0.0.1:8000 in front of three lab kitchens; its panel prints curl lines
reverse: setup
	$(BIN)/proxylab reverse --lab

## the whole check: lint, types, tests (this is what CI runs)
check: setup lint test

lint: setup
	$(BIN)/ruff check proxylab tests bench exercises
	$(BIN)/ruff format --check proxylab tests bench exercises
	$(BIN)/mypy

test: setup
	$(BIN)/python -m pytest

## JupyterLab on notebooks/ (installs it on first use), on a free port, as root too; prints the URL
lab: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,notebook]'
	@$(BIN)/python -c 'import secrets, socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1], secrets.token_hex(16))' > $(VENV)/.lab-address
	@port=$$(cut -d' ' -f1 $(VENV)/.lab-address); token=$$(cut -d' ' -f2 $(VENV)/.lab-address); \
	root=$$([ "$$(id -u 2>/dev/null)" = 0 ] && echo --allow-root); \
	echo; echo "  JupyterLab on notebooks/: open http://127.0.0.1:$$port/lab?token=$$token"; \
	echo "  (start with 00_welcome.ipynb; Ctrl-C here stops it)"; echo; \
	exec $(BIN)/jupyter lab notebooks/ --no-browser --ServerApp.ip=127.0.0.1 \
		--ServerApp.port=$$port --ServerApp.port_retries=0 --IdentityProvider.token=$$token $$root

bench: setup
	$(BIN)/python bench/bench_forward.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tour-output

# The README's two commands: `make demo` (set up, then run the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
DEMO_DIR ?= demo_out

.PHONY: setup demo test lint typecheck clean

setup: $(VENV)/.installed

# torch first and pinned: anything unpinned that pulls torch would fetch a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	touch $@

demo: setup
	$(VENV)/bin/cf-agent data demo --n 2000 --seed 0 --out $(DEMO_DIR)/data
	$(VENV)/bin/cf-agent train --data $(DEMO_DIR)/data/demo.csv --spec $(DEMO_DIR)/data/demo.toml --out $(DEMO_DIR)/model

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/pytest

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

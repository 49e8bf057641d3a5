# sigbench: `make run` and `make test` are the only two commands a new machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test lint format bench figure docs wheel demo serve clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install sigbench (editable) with every extra and the dev tools

run: $(STAMP)  ## train the quickstart experiment on built-in synthetic writers and print its results
	$(BIN)/sigbench-train experiment=quickstart

TEST_WORKERS ?= 2
test: $(STAMP)  ## run the test suite in TEST_WORKERS processes (a test file stays on one)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)  ## ruff check + format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)  ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: $(STAMP)  ## run the benchmarks (prints figures and ratios)
	$(BIN)/python benchmarks/preprocess.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/synth.py
	$(BIN)/python benchmarks/detect.py

figure: $(STAMP)  ## render the README figures (synthetic signatures, western writers, synthesised pages)
	$(BIN)/python scripts/render_synthetic_figure.py
	$(BIN)/python scripts/render_western_figure.py
	$(BIN)/python scripts/render_synth_pages_figure.py

docs: $(STAMP)  ## build the guides in docs/ into a site in site/ (strict: broken links fail)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

wheel: $(STAMP)  ## build dist/sigbench-<version>-py3-none-any.whl (configs included)
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation -w dist .

demo: $(STAMP)  ## demo bundle from synthetic data (cached in outputs/demo), then an enrol / verify / identify session
	OMP_NUM_THREADS=2 $(BIN)/python scripts/demo.py

SERVE_DIR := outputs/demo/serve
serve: $(STAMP)  ## HTTP API + web page on the demo bundle (make demo first); prints an admin key on first start
	test -f outputs/demo/bundle/manifest.json || { echo "no demo bundle: run make demo first"; exit 2; }
	mkdir -p $(SERVE_DIR)
	$(BIN)/sigbench-service serve --bundle outputs/demo/bundle --store $(SERVE_DIR)/store.db \
		--keys-file $(SERVE_DIR)/keys.json --admin-key-if-none admin --port $${PORT:-8000}

clean:  ## remove outputs, caches, the built site and wheels (keeps .venv)
	rm -rf outputs site .pytest_cache .ruff_cache build dist

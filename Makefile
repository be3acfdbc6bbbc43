# Developer entry points. `make gen` and `make test` set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.surrogen-installed
EXTRAS := jax,numba,cuda,torch,gen,docs,dev,examples
# The CPU-only torch wheel, installed before the extras: the default wheel brings GBs of CUDA.
TORCH_CPU := torch==2.13.0+cpu

.PHONY: gen check-gen test test-gpu docs docs-serve docs-test lint typecheck fmt bench check wheel-smoke clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_CPU)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

gen: $(STAMP)        ## regenerate generated/ from specs/ and templates/
	$(PY) -m surrogen.generator

check-gen: $(STAMP)  ## fail with a diff if generated/ is stale (exit 1)
	$(PY) -m surrogen.generator --check

test: $(STAMP)       ## the whole suite but the browser test; CUDA kernels run on Numba's simulator
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -n 2 --dist loadgroup -m "not browser"

test-gpu: $(STAMP)   ## CUDA tests on a real GPU
	NUMBA_ENABLE_CUDASIM=0 $(PY) -m pytest -k cuda

docs: $(STAMP)       ## build the site into docs/_build/html (warnings are errors; npm vendors MathJax)
	$(PY) docs/build.py

docs-serve: $(STAMP) ## build the site and serve it on http://127.0.0.1:8000 (DOCS_PORT=8001 to change)
	$(PY) docs/build.py --serve

docs-test: docs      ## open the built site in headless Chromium (needs chromium, chromium-driver)
	$(PY) -m pytest -m browser tests/test_docs_site.py

lint: $(STAMP)       ## ruff lint + format check (generated/ is formatted by the generator)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck: $(STAMP)  ## mypy on the generator and the runtime modules
	$(PY) -m mypy

fmt: $(STAMP)        ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .

bench: $(STAMP)      ## benchmark tables (ratios measured in one run) into benchmarks/results/
	$(PY) benchmarks/bench_kernels.py
	$(PY) benchmarks/bench_lif.py --out benchmarks/results/lif_cpu.txt
	$(PY) benchmarks/bench_import.py --out benchmarks/results/imports.txt

wheel-smoke: $(STAMP) ## build the wheel, install it in a fresh venv, use it from outside the checkout
	TORCH_CPU="$(TORCH_CPU)" bash .ci/wheel_smoke.sh $(PY)

check: lint typecheck check-gen test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build docs/_build

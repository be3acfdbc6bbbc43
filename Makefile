# Developer entry points. `make gen` and `make test` set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.surrogen-installed
EXTRAS := jax,numba,cuda,gen,docs,dev,examples

.PHONY: gen check-gen test test-gpu test-parity lint typecheck fmt bench check wheel-smoke clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

gen: $(STAMP)        ## regenerate generated/ from specs/ and templates/
	$(PY) -m surrogen.generator

check-gen: $(STAMP)  ## fail with a diff if generated/ is stale (exit 1)
	$(PY) -m surrogen.generator --check

test: $(STAMP)       ## the whole suite but parity; CUDA kernels run on Numba's CUDA simulator
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -n 2 --dist loadgroup -m "not parity"

PARITY_STAMP := $(VENV)/.surrogen-parity-installed
$(PARITY_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS),parity]"
	touch $(PARITY_STAMP)

test-parity: $(PARITY_STAMP) ## the presets against the real libraries (installs the parity extra)
	SURROGEN_PARITY=1 $(PY) -m pytest -n 2 -m parity

test-gpu: $(STAMP)   ## CUDA tests on a real GPU
	NUMBA_ENABLE_CUDASIM=0 $(PY) -m pytest -k cuda

lint: $(STAMP)       ## ruff lint + format check (generated/ is formatted by the generator)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck: $(STAMP)  ## mypy on the generator and the runtime modules
	$(PY) -m mypy

fmt: $(STAMP)        ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .

bench: $(STAMP)      ## kernel throughput table (add GPU=1 on a machine with CUDA)
	$(PY) benchmarks/bench_kernels.py

wheel-smoke: $(STAMP) ## build the wheel, install it in a fresh venv, use it from outside the checkout
	bash .ci/wheel_smoke.sh $(PY)

check: lint typecheck check-gen test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build

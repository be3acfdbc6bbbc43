# Developer entry points. `make gen` and `make test` set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.surrogen-installed
EXTRAS := jax,numba,cuda,torch,gen,docs,dev,examples
# The CPU-only torch wheel, installed before the extras: the default wheel brings GBs of CUDA.
TORCH_CPU := torch==2.13.0+cpu

.PHONY: gen check-gen test test-slow test-gpu test-parity lint typecheck fmt bench check wheel-smoke clean \
	mutate mutate-sample coverage docs docs-serve docs-test

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

test: $(STAMP)       ## the suite but the slow, parity and browser groups; CUDA kernels run on Numba's simulator
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -n 2 --dist loadgroup -m "not parity and not browser and not slow"

test-slow: $(STAMP)  ## the exhaustive numerics group (about 7 more minutes on 2 cores; CI runs it)
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -n 2 --dist loadgroup -m slow

PARITY_STAMP := $(VENV)/.surrogen-parity-installed
# The PyTorch libraries without their dependencies: those would replace the CPU torch (torchvision,
# torchaudio), or are hardware stacks (sinabs' samna); the parity tests need torch alone. lava-dl
# 0.6.0 declares Python < 3.11, but its spike code runs on any.
# brainpy 2.6.0 (its own surrogates, before 2.8 re-exported braintools) cannot be installed beside
# 2.8.2: its wheel is downloaded, and the parity tests run its surrogate module from it.
TORCH_PARITY := spikingjelly==2.0.0 snntorch==1.0.0 sinabs==3.1.3 norse==1.1.0 rockpool==3.1.0
$(PARITY_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS),parity]"
	$(PY) -m pip install --quiet --no-deps $(TORCH_PARITY)
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python lava-dl==0.6.0
	$(PY) -m pip download --quiet --no-deps brainpy==2.6.0 -d $(VENV)/parity-wheels
	touch $(PARITY_STAMP)

test-parity: $(PARITY_STAMP) ## the presets against the real libraries (installs the parity extra)
	SURROGEN_PARITY=1 $(PY) -m pytest -n 2 -m parity

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
	$(PY) benchmarks/bench_floor.py --out benchmarks/results/floor_cpu.txt
	$(PY) benchmarks/bench_jax_floor.py --out benchmarks/results/jax_floor_cpu.txt
	$(PY) benchmarks/bench_lif.py --out benchmarks/results/lif_cpu.txt
	$(PY) benchmarks/bench_import.py --out benchmarks/results/imports.txt

mutate: $(STAMP)     ## mutation check: each catalogued bug, planted in a copy, fails a test (~30 min)
	$(PY) tools/mutate.py

mutate-sample: $(STAMP) ## a few mutants, one per layer (CI; `make test` is their baseline)
	$(PY) tools/mutate.py --sample --no-baseline

# The JAX and CUDA-simulator bodies are traced as they run; Numba CPU bodies only as Python
# (NUMBA_DISABLE_JIT=1, tools/coverage_numba_cpu.py). A fresh Numba cache makes the runtime's
# typing and codegen hooks run too.
COVERAGE_TESTS := tests/test_dtypes_strict.py tests/test_edge_values.py tests/test_entry_points.py \
	tests/test_numba_backends.py tests/test_float32_loops.py tests/test_jax_api.py
coverage: $(STAMP)   ## line coverage of runtime/ and generated kernels; fails if a body never ran
	rm -f .coverage .coverage.*
	NUMBA_CACHE_DIR=$$(mktemp -d) NUMBA_ENABLE_CUDASIM=1 $(PY) -m coverage run -p -m pytest -q \
		-n 0 -p no:cacheprovider $(COVERAGE_TESTS) -k "not other and not per_neuron"
	NUMBA_DISABLE_JIT=1 $(PY) -m coverage run -p tools/coverage_numba_cpu.py
	$(PY) -m coverage combine -q
	$(PY) -m coverage report -m
	$(PY) tools/coverage_gate.py

wheel-smoke: $(STAMP) ## build the wheel, install it in a fresh venv, use it from outside the checkout
	TORCH_CPU="$(TORCH_CPU)" bash .ci/wheel_smoke.sh $(PY)

check: lint typecheck check-gen test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build docs/_build

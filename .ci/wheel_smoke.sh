#!/usr/bin/env bash
# Build the wheel, install it (not editable) into a fresh venv, and use it from outside the checkout:
# one top-level package, the runtime without the generator's tools, and the installed CLI
# generating a user's spec folder into a user's package without touching the user's files.
set -euo pipefail
PY=${1:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Quietly: setuptools lists each template folder as "data, not a package", which is what they are.
"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$REPO" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/surrogen-*.whl)
python3 -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install --quiet "${WHEEL}[jax,numba,cuda]"
cd "$WORK"  # nothing of the checkout is importable from here

echo "== top-level packages the wheel installs"
"$VPY" - <<'PY'
import importlib.metadata as md

files = md.distribution("surrogen").files
skip = (".dist-info", ".data")
tops = sorted({f.parts[0] for f in files if f.parts[0] != ".." and not f.parts[0].endswith(skip)})
print(tops)
assert tops == ["surrogen"], tops
assert not any(f.name.endswith((".md", ".png")) for f in files), "docs must stay out of the wheel"
PY

echo "== backends import without the generator's tools"
"$VPY" - <<'PY'
import importlib.util
import os

for tool in ("sympy", "jinja2", "yaml", "ruff", "mpmath"):
    assert importlib.util.find_spec(tool) is None, f"{tool} was installed with [jax,numba,cuda]"
os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
import jax.numpy as jnp
import numpy as np

import surrogen
from surrogen.jax import sigmoid
from surrogen.numba_cpu import sigmoid as cpu
from surrogen.numba_cuda import sigmoid as gpu

x = np.linspace(-1, 1, 5, dtype=np.float32)
np.testing.assert_allclose(np.asarray(sigmoid.grad(jnp.asarray(x))), cpu.grad(x, 4.0), rtol=1e-6)
np.testing.assert_allclose(gpu.grad(x), cpu.grad(x, 4.0), rtol=1e-6)
import surrogen.jax.presets.braintools as surrogate

np.testing.assert_array_equal(np.asarray(surrogate.Sigmoid(alpha=4.0)(x)), x >= 0)
import importlib
import pkgutil

import surrogen.jax.presets as jax_presets

libraries = [m.name for m in pkgutil.iter_modules(jax_presets.__path__)]
for name in libraries:  # every JAX preset module is in the wheel and imports
    importlib.import_module(f"surrogen.jax.presets.{name}")
assert {"braintools", "brainpy", "brainpy2", "spyx"} <= set(libraries), libraries
print("surrogen", surrogen.__file__, "backends:", sorted(surrogen.NAMES)[:3], "...")
PY

echo "== surrogen.torch from the wheel (the CPU torch wheel first: the default one brings CUDA)"
# After the check above: torch depends on sympy, so it comes after the tools-free import test.
"$VPY" -m pip install --quiet "${TORCH_CPU:-torch==2.13.0+cpu}"
"$VPY" -m pip install --quiet "${WHEEL}[torch]"
"$VPY" - <<'PY'
import torch

import surrogen.torch
from surrogen.torch import Sigmoid, sigmoid

x = torch.linspace(-1.0, 1.0, 5, requires_grad=True)
Sigmoid()(x).sum().backward()
torch.testing.assert_close(x.grad, sigmoid.grad(x.detach()))
import importlib
import pkgutil

import surrogen.torch.presets as torch_presets

libraries = [m.name for m in pkgutil.iter_modules(torch_presets.__path__)]
for name in libraries:  # every PyTorch preset module is in the wheel and imports
    importlib.import_module(f"surrogen.torch.presets.{name}")
assert {"spikingjelly", "snntorch", "lava_dl"} <= set(libraries), libraries
from surrogen.torch.presets.snntorch import atan

v = torch.tensor([0.5, 1.5], requires_grad=True)
atan(alpha=2.0)(v - 1.0).sum().backward()
print("surrogen.torch", surrogen.torch.__file__, "presets:", libraries)
PY

echo "== the installed CLI on a user's spec folder"
"$VPY" -m pip install --quiet "${WHEEL}[gen]"
mkdir myspecs mypkg
sed 's/^name: sigmoid$/name: my_sigmoid/' "$REPO/specs/sigmoid.yaml" > myspecs/my_sigmoid.yaml
echo "my notes" > mypkg/NOTES.txt
printf 'WEIGHTS = 1\n' > mypkg/my_model.py
"$WORK/venv/bin/surrogen" --specs myspecs --out mypkg
"$WORK/venv/bin/surrogen" --specs myspecs --out mypkg --check
test "$(cat mypkg/NOTES.txt)" = "my notes"
test "$(cat mypkg/my_model.py)" = "WEIGHTS = 1"
"$VPY" -c "
from mypkg.torch import my_sigmoid as torch_sigmoid
from mypkg.jax import my_sigmoid, MySigmoid
from mypkg.numba_cpu import my_sigmoid as cpu
import mypkg.my_model
import torch
print('mypkg ok:', float(my_sigmoid.grad(0.0)), MySigmoid().alpha, cpu.DEFAULTS,
      float(torch_sigmoid.grad(torch.zeros(()))))
"
echo "wheel smoke test passed"

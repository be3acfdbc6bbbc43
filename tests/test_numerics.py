"""Every spec x backend x dtype against the 30-digit mpmath reference (tests/reference.py).

Covers the extreme grid (0, -0.0, +-1e-30, +-1, +-10, +-1e4, +-1e30, +-3e38, +-inf), a dense grid
and both sides of every breakpoint: no NaN/inf where the true value is finite, values within a
condition-scaled tolerance, and the input dtype kept.
"""

import importlib
import warnings

import numpy as np
import pytest

from tests.reference import assert_close, defaults, has_origin, reference, reference_at

jax = pytest.importorskip("jax")
jnp = jax.numpy


def _jax(name, fn, x):
    mod = importlib.import_module(f"surrogen.jax.{name}")
    return np.asarray(getattr(mod, fn)(jnp.asarray(x), *defaults(name)))


def _numba_cpu(name, fn, x):
    mod = importlib.import_module(f"surrogen.numba_cpu.{name}")
    # A periodic surrogate is NaN at x = +-inf (it has no limit there), which NumPy reports as an
    # invalid operation; a NaN anywhere else fails the comparison with the reference below.
    with np.errstate(invalid="ignore"):
        return getattr(mod, fn)(x, *defaults(name))


def _numba_cuda(name, fn, x):
    mod = importlib.import_module(f"surrogen.numba_cuda.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # simulator: numpy warns on float overflow to inf
        return getattr(mod, fn)(x, *defaults(name))


def _torch_on(device):
    def call(name, fn, x):
        """x as a torch tensor of the same dtype on ``device``; the result comes back as a NumPy
        array of x's dtype only if torch returned that dtype (float64 otherwise, which fails)."""
        import torch

        mod = importlib.import_module(f"surrogen.torch.{name}")
        dtype_name = "bfloat16" if x.dtype.name == "bfloat16" else x.dtype.name
        dtype = getattr(torch, dtype_name)
        t = torch.from_numpy(x.astype(np.float64)).to(device=device, dtype=dtype)  # exact
        out = getattr(mod, fn)(t, *defaults(name))
        values = out.to(device="cpu", dtype=torch.float64).numpy()
        return values.astype(x.dtype) if out.dtype == dtype else values

    return call


def _torch_devices():
    try:
        import torch
    except ImportError:
        return []
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


# How to call each backend on a NumPy array, and which dtypes it serves.
BACKENDS = {
    "jax": (_jax, ["float16", "bfloat16", "float32"]),
    "numba_cpu": (_numba_cpu, ["float32", "float64"]),
    "numba_cuda": (_numba_cuda, ["float16", "float32", "float64"]),
}
for _device in _torch_devices():
    _dtypes = ["float16", "bfloat16", "float32", "float64"]
    BACKENDS[f"torch_{_device}"] = (_torch_on(_device), _dtypes)
CASES = [(b, d) for b, (_, dtypes) in BACKENDS.items() for d in dtypes]


def _as_dtype(xs, dtype_name):
    import ml_dtypes

    dtype = ml_dtypes.bfloat16 if dtype_name == "bfloat16" else np.dtype(dtype_name)
    return xs.astype(dtype)


@pytest.mark.parametrize("backend, dtype_name", CASES, ids=[f"{b}-{d}" for b, d in CASES])
@pytest.mark.parametrize("fn", ["grad", "origin"])
def test_backend_matches_mpmath(name, backend, dtype_name, fn):
    if fn == "origin" and not has_origin(name):  # a gradient-only family has no origin function
        package = "torch" if backend.startswith("torch_") else backend  # torch_cpu, torch_cuda
        assert not hasattr(importlib.import_module(f"surrogen.{package}.{name}"), "origin")
        pytest.skip("gradient-only family: no origin function (and none exported)")
    ref = reference(name, "float32" if dtype_name == "bfloat16" else dtype_name)
    x = _as_dtype(ref.x, dtype_name)
    if dtype_name == "bfloat16":  # the grid rounded to bfloat16 needs its own reference values
        ref = reference_at(name, x.astype(np.float64))
    call, _ = BACKENDS[backend]
    got = call(name, fn, x)
    assert got.dtype == x.dtype, f"{backend} {fn} turned {x.dtype} into {got.dtype}"
    want, slope = (ref.grad, ref.grad_slope) if fn == "grad" else (ref.origin, ref.origin_slope)
    scale = 0.0 if fn == "grad" else 1.0  # origins: absolute k*eps, see assert_close
    assert_close(got, want, slope, ref.x, dtype_name, f"{backend}.{name}.{fn}", scale)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_jax_float64_and_float32_grad(name, dtype_name):
    """JAX in float64 needs x64 mode; run it in a scoped config so other tests keep float32."""
    ref = reference(name, dtype_name)
    mod = importlib.import_module(f"surrogen.jax.{name}")
    with jax.enable_x64(dtype_name == "float64"):
        x = jnp.asarray(ref.x.astype(dtype_name))
        got = np.asarray(mod.grad(x, *defaults(name)))
        assert got.dtype == np.dtype(dtype_name)
    assert_close(got, ref.grad, ref.grad_slope, ref.x, dtype_name, f"jax.{name}.grad")

"""Numba CPU ufuncs and Numba CUDA kernels: API, dtypes, broadcasting, device arrays, @njit use.

Numerical accuracy against mpmath is in test_numerics.py; here the two backends are also compared
with each other on the same inputs (the CUDA simulator runs the device functions as Python).
"""

import importlib
import warnings

import numpy as np
import pytest

from tests.reference import SPECS, defaults, has_origin

numba = pytest.importorskip("numba")
from numba import cuda  # noqa: E402 (module global: the simulator swaps it inside kernels)


def cpu(name):
    return importlib.import_module(f"surrogen.numba_cpu.{name}")


def gpu(name):
    return importlib.import_module(f"surrogen.numba_cuda.{name}")


def test_cpu_ufuncs_have_float32_and_float64_loops(name):
    m = cpu(name)
    n = len(SPECS[name].params)
    # Each x type has loops for float32 and float64 g and parameters; the output is x's type.
    unary = ["f" * (n + 1) + "->f", "f" + "d" * n + "->f", "d" * (n + 1) + "->d"]
    loops = {
        m.spike: ["f->f", "d->d"],
        m.grad: unary,
        m.spike_bwd: [f"{xg}{p * n}->{xg[0]}" for xg in ("ff", "fd") for p in "fd"]
        + ["dd" + "d" * n + "->d"],
    }
    functions = [(m.spike, 1), (m.grad, n + 1), (m.spike_bwd, n + 2)]
    if has_origin(name):
        loops[m.origin] = unary
        functions.append((m.origin, n + 1))
    else:
        assert not hasattr(m, "origin") and not hasattr(gpu(name), "origin")
    for fn, arity in functions:
        assert isinstance(fn, np.ufunc) or hasattr(fn, "ufunc"), fn
        assert fn.nin == arity
        assert fn.types == list(dict.fromkeys(loops[fn]))
    assert tuple(m.DEFAULTS) == tuple(p.name for p in SPECS[name].params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_dtype_broadcast_and_spike_bwd(name, dtype):
    m = cpu(name)
    x = np.linspace(-2, 2, 24, dtype=dtype).reshape(4, 6)
    g = np.full_like(x, 0.5)
    ps = defaults(name)
    outs = [m.spike(x), m.grad(x, *ps), m.spike_bwd(x, g, *ps)]
    outs += [m.origin(x, *ps)] if has_origin(name) else []
    for out in outs:
        assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_array_equal(m.spike_bwd(x, g, *ps), dtype(0.5) * m.grad(x, *ps))
    with np.errstate(invalid="ignore"):  # NaN >= 0 raises the invalid flag; the answer is 0
        np.testing.assert_array_equal(
            m.spike(np.array([-0.0, 0.0, -1e-45, np.nan], dtype)), [1, 1, 0, 0]
        )
    if ps:  # per-neuron parameters broadcast along the last axis
        first = np.array([ps[0], ps[0] * 2] * 3, dtype)
        per = m.grad(x, first, *ps[1:])
        assert per.shape == x.shape
        np.testing.assert_array_equal(per[:, 1], m.grad(x[:, 1], dtype(ps[0] * 2), *ps[1:]))


def test_cpu_float16_via_out_argument():
    """No float16 arithmetic in Numba on the CPU: the float32 loop runs, `out=` keeps float16."""
    m = cpu("sigmoid")
    x = np.linspace(-3, 3, 13).astype(np.float16)
    out = np.empty_like(x)
    m.grad(x, 4.0, out=out)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out, m.grad(x.astype(np.float32), 4.0).astype(np.float16))


def test_cpu_callable_from_user_njit():
    m = cpu("superspike")

    @numba.njit
    def total(v, beta):
        acc = np.float32(0)
        for i in range(v.size):
            acc += m.spike_bwd(v[i], np.float32(1), beta)
        return acc

    v = np.linspace(-1, 1, 101, dtype=np.float32)
    got = total(v, np.float32(20.0))
    np.testing.assert_allclose(got, m.grad(v, np.float32(20.0)).sum(dtype=np.float32), rtol=1e-5)


def _run(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # simulator: NumPy scalar overflow to inf
        return fn(*args, **kwargs)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, pytest.param(np.float64, marks=pytest.mark.slow)])
def test_cuda_matches_cpu_on_host_arrays(name, dtype):
    x = np.linspace(-3, 3, 257, dtype=dtype)  # 257 = 2 blocks of 128 + 1: exercises the tail guard
    g = np.linspace(0.5, 1.5, 257, dtype=dtype)
    ps = defaults(name)
    c, k = cpu(name), gpu(name)
    # The simulator computes math.* in double and rounds once; the CPU loop rounds each f32 step.
    rtol = 1e-5 if dtype == np.float32 else 1e-14
    pairs = [
        (_run(k.spike, x), c.spike(x)),
        (_run(k.grad, x, *ps), c.grad(x, *ps)),
        (_run(k.spike_bwd, x, g, *ps), c.spike_bwd(x, g, *ps)),
    ]
    if has_origin(name):
        pairs.append((_run(k.origin, x, *ps), c.origin(x, *ps)))
    for got, want in pairs:
        assert isinstance(got, np.ndarray) and got.dtype == dtype and got.shape == x.shape
        # Absolute slack at the function's scale: near a zero of multi_gaussian's gradient the
        # two terms cancel, and a GPU exp() one ulp off is a large relative error there.
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * float(np.max(np.abs(want))))


@pytest.mark.cuda
def test_cuda_device_arrays_shapes_float16_and_errors():
    k = gpu("sigmoid")
    x = np.linspace(-3, 3, 60, dtype=np.float32).reshape(3, 4, 5)
    dx = cuda.to_device(x)
    out = _run(k.grad, dx, 4.0)
    assert not isinstance(out, np.ndarray) and out.shape == x.shape  # device in, device out
    np.testing.assert_allclose(out.copy_to_host(), cpu("sigmoid").grad(x, 4.0), rtol=2e-6)
    bwd = _run(k.spike_bwd, dx, cuda.to_device(np.ones_like(x)), alpha=4.0)
    np.testing.assert_allclose(bwd.copy_to_host(), out.copy_to_host())
    h = np.linspace(-3, 3, 11).astype(np.float16)
    got = _run(k.grad, h)
    assert got.dtype == np.float16
    np.testing.assert_allclose(
        got, cpu("sigmoid").grad(h.astype(np.float32), 4.0).astype(np.float16)
    )
    assert _run(k.spike, np.zeros((0,), np.float32)).shape == (0,)
    out = cuda.device_array_like(x)  # filled in place: no allocation per call
    assert _run(k.grad, dx, 4.0, out=out) is out
    np.testing.assert_allclose(out.copy_to_host(), cpu("sigmoid").grad(x, 4.0), rtol=2e-6)
    with pytest.raises(ValueError, match="out must have the broadcast shape"):
        k.grad(dx, out=cuda.device_array(3, np.float32))
    with pytest.raises(TypeError, match="unsupported dtype"):
        k.grad(np.arange(4))
    with pytest.raises(ValueError, match="do not broadcast"):
        k.spike_bwd(x, np.ones(3, np.float32))


@pytest.mark.cuda
def test_cuda_device_functions_in_a_user_kernel():
    k = gpu("superspike")

    @cuda.jit
    def user_kernel(v, out):
        i = cuda.grid(1)
        if i < v.size:
            out[i] = k.grad_f32(v[i], np.float32(20.0)) + k.origin_f32(v[i], np.float32(20.0))

    v = np.linspace(-1, 1, 50, dtype=np.float32)
    out = cuda.device_array_like(v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        user_kernel[1, 64](cuda.to_device(v), out)
    out = out.copy_to_host()
    np.testing.assert_allclose(
        out, cpu("superspike").grad(v, 20.0) + cpu("superspike").origin(v, 20.0), rtol=2e-6
    )

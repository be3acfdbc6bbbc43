"""Array layout: every host function of the Numba CPU and CUDA backends gives the right answer for
any strides, contiguity and broadcasting of x, g, the parameters and ``out=``, or a clear error;
it never returns an unfilled output.

The reference for each case is the same function on C-contiguous copies broadcast by NumPy
(itself checked against mpmath in test_numerics.py); values must be identical.
"""

import importlib
import warnings

import numpy as np
import pytest

from tests.reference import defaults, has_origin, scaled_within_bounds

numba = pytest.importorskip("numba")
from numba import cuda  # noqa: E402

FNS = ("spike", "origin", "grad", "spike_bwd")


def cpu(name):
    return importlib.import_module(f"surrogen.numba_cpu.{name}")


def gpu(name):
    return importlib.import_module(f"surrogen.numba_cuda.{name}")


def base(dtype=np.float32):
    return np.linspace(-2.5, 2.5, 48, dtype=dtype).reshape(6, 8)


LABELS = ("C", "F", "transposed", "strided", "reversed", "row")


def host_view(a, label):
    """``a`` (6, 8) as a view: transposed, strided, reversed, one row (broadcast by the call)."""
    return {
        "C": a,
        "F": np.asfortranarray(a),
        "transposed": a.T,
        "strided": a[::2, ::3],
        "reversed": a[::-1, ::-1],
        "row": a[0],
    }[label]


def device_view(a, label):
    """The same view, made on the device (a view of a device array)."""
    if label == "F":
        return cuda.to_device(np.asfortranarray(a))
    d = cuda.to_device(np.ascontiguousarray(a))
    return {
        "C": d,
        "transposed": d.T,
        "strided": d[::2, ::3],
        "reversed": d[::-1, ::-1],
        "row": d[0],
    }[label]


def call(module, fn, x, g, params, **kw):
    if fn == "spike":
        return module.spike(x, **kw)
    if fn == "spike_bwd":
        return module.spike_bwd(x, g, *params, **kw)
    return getattr(module, fn)(x, *params, **kw)


def expected(name, fn, x, g, params):
    """The CPU ufunc on C-contiguous, explicitly broadcast copies of every argument."""
    if fn == "spike":
        return cpu(name).spike(np.ascontiguousarray(x))
    arrays = [x] + ([g] if fn == "spike_bwd" else []) + [np.asarray(p, np.float64) for p in params]
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    c = [np.ascontiguousarray(np.broadcast_to(a, shape)) for a in arrays]
    if fn == "spike_bwd":
        return cpu(name).spike_bwd(*c)
    return getattr(cpu(name), fn)(*c)


def per_neuron(name, shape):
    """Parameters: the first an array of ``shape`` around its default, the rest scalars."""
    ps = list(defaults(name))
    if ps:  # inside its declared bounds (an integer rounded): a NaN would equal a NaN below
        ps[0] = scaled_within_bounds(name, 0, np.linspace(0.5, 1.5, int(np.prod(shape))))
        ps[0] = ps[0].reshape(shape)
    return ps


@pytest.mark.parametrize("fn", FNS)
def test_cpu_any_strides_broadcast_and_out(name, fn):
    if fn == "origin" and not has_origin(name):
        pytest.skip("gradient-only family: no origin function")
    m = cpu(name)
    for label in (*LABELS, "stride 0"):
        if label == "stride 0":
            x, g = np.broadcast_to(base()[0], (6, 8)), np.broadcast_to(base()[1], (6, 8))
        else:
            x, g = host_view(base(), label), host_view(base()[::-1] * 0.5 + 1, label)
        for params in (list(defaults(name)), per_neuron(name, (x.shape[-1],))):
            want = expected(name, fn, x, g, params)
            got = call(m, fn, x, g, params)
            np.testing.assert_array_equal(got, want, err_msg=label)
            assert got.dtype == x.dtype
            # out= a transposed, strided view of a bigger buffer: filled, and returned.
            buf = np.full((2 * want.shape[-1], *want.shape[:-1]), -7.0, np.float32)
            out = buf[::2].T
            assert call(m, fn, x, g, params, out=out) is out
            np.testing.assert_array_equal(out, want, err_msg=label)
            assert np.all(buf[1::2] == -7.0)  # nothing written outside the view
    with pytest.raises(TypeError):  # NumPy refuses to write float32 results into an int array
        call(m, fn, base(), base(), defaults(name), out=np.zeros((6, 8), np.int32))


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # simulator: NumPy overflow to inf
        return fn(*args, **kwargs)


@pytest.mark.cuda
@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("surrogate", ["superspike", "multi_gaussian", "straight_through"])
def test_cuda_any_strides_broadcast_params_and_out(surrogate, fn):
    m = gpu(surrogate)
    for label in LABELS:
        x, g = host_view(base(), label), host_view(base()[::-1] * 0.5 + 1, label)
        dx, dg = device_view(base(), label), device_view(base()[::-1] * 0.5 + 1, label)
        for params in (list(defaults(surrogate)), per_neuron(surrogate, (x.shape[-1],))):
            want = expected(surrogate, fn, x, g, params)
            tol = {"rtol": 1e-6, "atol": 1e-7, "err_msg": label}
            # host arrays of any layout, host array parameters
            got = _quiet(call, m, fn, x, g, params)
            assert isinstance(got, np.ndarray) and got.dtype == x.dtype
            np.testing.assert_allclose(got, want, **tol)
            # device views, device array parameters
            dps = [cuda.to_device(np.asarray(p)) if np.ndim(p) else p for p in params]
            got = _quiet(call, m, fn, dx, dg, dps)
            np.testing.assert_allclose(got.copy_to_host(), want, **tol)
            # out= a transposed view of a device buffer: filled, not silently left alone
            buf = cuda.to_device(np.full(want.shape[::-1], -7.0, np.float32))
            out = buf.T
            assert _quiet(call, m, fn, dx, dg, dps, out=out) is out
            np.testing.assert_allclose(buf.copy_to_host().T, want, **tol)
            host_out = np.full(want.shape[::-1], -7.0, np.float32).T
            assert _quiet(call, m, fn, x, g, params, out=host_out) is host_out
            np.testing.assert_allclose(host_out, want, **tol)


@pytest.mark.cuda
def test_cuda_the_issue_case_and_errors():
    m = gpu("superspike")
    d = cuda.to_device(np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6))
    buf = cuda.to_device(np.full((6, 4), -7.0, np.float32))
    _quiet(m.grad, d, 20.0, out=buf.T)
    np.testing.assert_allclose(
        buf.copy_to_host().T, cpu("superspike").grad(d.copy_to_host(), 20.0), rtol=1e-6
    )
    with pytest.raises(ValueError, match="broadcast shape"):
        m.grad(d, 20.0, out=cuda.device_array((6, 4), np.float32))
    with pytest.raises(ValueError, match="x's dtype float32"):
        m.grad(d, 20.0, out=cuda.device_array((4, 6), np.float64))
    with pytest.raises(ValueError, match="do not broadcast"):
        m.grad(d, np.ones(5))
    with pytest.raises(TypeError, match="out must be a device array or a NumPy array"):
        m.grad(d, 20.0, out=[0.0] * 24)
    assert _quiet(m.grad, np.zeros((0, 3), np.float32), np.ones(3)).shape == (0, 3)

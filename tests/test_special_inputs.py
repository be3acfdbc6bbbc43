"""Subnormal, NaN and infinite inputs, and dtypes, on every backend.

One definition everywhere: subnormal inputs are their exact values (a negative subnormal does
not spike, and takes the x < 0 branch of a formula), eagerly and under ``jit`` (XLA on the CPU
flushes subnormals in comparisons); NaN in gives NaN out (the spike excepted: 0); the output
dtype is x's whatever the parameters' types; NaN and infinite inputs raise no warning.
"""

import importlib
import warnings

import numpy as np
import pytest

from tests.derivatives import derivative
from tests.reference import SPECS, defaults, has_origin, limit_at_infinity

jax = pytest.importorskip("jax")
jnp = jax.numpy
numba = pytest.importorskip("numba")
from numba import cuda  # noqa: E402

TINY = {"float16": 6e-08, "bfloat16": 9.2e-41, "float32": 1.4e-45, "float64": 5e-324}


def mod(backend, name):
    return importlib.import_module(f"surrogen.{backend}.{name}")


def jax_dtype(name):
    return jnp.bfloat16 if name == "bfloat16" else np.dtype(name)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_subnormal_spike_eager_and_jit_agree(name, dtype):
    m = mod("jax", name)
    cls = getattr(m, SPECS[name].class_name)
    tiny = TINY[dtype]
    with jax.enable_x64(dtype == "float64"):
        x = jnp.array([-tiny, tiny, -0.0, 0.0, -1.0, 1.0], jax_dtype(dtype))
        assert float(x[0]) < 0  # a subnormal of this dtype, not flushed when built
        want = [0, 1, 1, 1, 0, 1]
        # a gradient-only family has no origin, hence no spike_learnable (smooth forward)
        fns = (
            (m.spike, m.spike_jvp, m.spike_learnable, cls())
            if has_origin(name)
            else (m.spike, m.spike_jvp, cls())
        )
        for fn in fns:
            for run in (fn, jax.jit(fn)):
                np.testing.assert_array_equal(np.asarray(run(x), np.float32), want)
                # a scalar goes through another XLA path than an array
                assert float(run(x[0])) == 0.0 and float(run(x[1])) == 1.0


def test_subnormal_spike_numba_cpu_and_cuda(name):
    x = np.array([-1.4e-45, 1.4e-45, -0.0, 0.0, -5e-324], np.float32)
    np.testing.assert_array_equal(mod("numba_cpu", name).spike(x), [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(
        mod("numba_cpu", name).spike(x.astype(np.float64)[:4]), [0, 1, 1, 1]
    )
    np.testing.assert_array_equal(mod("numba_cuda", name).spike(x), [0, 1, 1, 1, 1])


def test_subnormal_inputs_take_the_branch_of_their_sign():
    """s2nn's two branches meet at 0 with different slopes when alpha/4 != beta: the gradient at
    -1.4e-45 is the left one (alpha/4), at +1.4e-45 the right one (beta), on every backend and
    under jit."""
    params = (2.0, 1.0)  # left alpha/4 = 0.5, right beta = 1
    x = np.array([-1.4e-45, 1.4e-45], np.float32)
    want = derivative("s2nn", 1, x.astype(np.float64), params)
    np.testing.assert_allclose(want, [0.5, 1.0], rtol=1e-12)
    m = mod("jax", "s2nn")
    for fn in (m.grad, jax.jit(m.grad), jax.grad(m.spike), jax.jit(jax.grad(m.spike))):
        got = [float(fn(jnp.float32(v), *params)) for v in x]
        np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(mod("numba_cpu", "s2nn").grad(x, *params), want, rtol=1e-6)
    np.testing.assert_allclose(mod("numba_cuda", "s2nn").grad(x, *params), want, rtol=1e-6)


SPECIAL = [np.nan, -np.inf, np.inf, 0.0, -0.0, 1.4e-45, -1.4e-45, 3e38, -3e38, 1.0]


def test_nan_in_gives_nan_out_everywhere(name):
    ps = defaults(name)
    x32 = np.array(SPECIAL, np.float32)
    nan = np.isnan(x32)
    origin = has_origin(name)

    def undefined(which):
        """NaN where x is NaN, and at +-inf where the function has no limit (a periodic one)."""
        out = nan.copy()
        for i in np.flatnonzero(np.isinf(x32)):
            out[i] = np.isnan(limit_at_infinity(name, which, int(np.sign(x32[i])), ps))
        return out

    nan_grad = undefined("grad")
    nan_origin = undefined("origin") if origin else None

    def check(got, where):
        assert np.all(np.isnan(got[where])) and not np.any(np.isnan(got[~where])), got

    m = mod("jax", name)
    plain = [(m.grad, nan_grad), (jax.jit(m.grad), nan_grad)]
    if origin:
        plain.insert(0, (m.origin, nan_origin))
    for fn, where in plain:
        check(np.asarray(fn(jnp.asarray(x32), *ps)), where)
    surrogates = (m.spike, m.spike_jvp, m.spike_learnable) if origin else (m.spike, m.spike_jvp)
    for f in surrogates:
        fn = jax.vmap(jax.grad(lambda v, f=f: f(v, *ps)))
        check(np.asarray(fn(jnp.asarray(x32))), nan_grad)
    assert float(m.spike(jnp.float32(np.nan))) == 0.0
    cpu, gpu = mod("numba_cpu", name), mod("numba_cuda", name)
    for module in (cpu, gpu):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # only the simulator warns
            outs = [(module.grad(x32, *ps), nan_grad)]
            outs.append((module.spike_bwd(x32, np.ones_like(x32), *ps), nan_grad))
            if origin:
                outs.append((module.origin(x32, *ps), nan_origin))
        for got, where in outs:
            check(got, where)


# LLVM evaluates both sides of a Piecewise (superspike's 1/x branch at x = 0 once raised the
# divide-by-zero flag); the Numba CPU printer now hands a division in a branch its operand only
# where the branch is taken (generator.printers.speculation_safe). Known exceptions, if any:
SPURIOUS_FLAGS: dict[str, str] = {}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_cpu_raises_no_warning_on_special_inputs(name, dtype, request):
    if name in SPURIOUS_FLAGS:
        request.applymarker(pytest.mark.xfail(reason=SPURIOUS_FLAGS[name], strict=True))
    """NumPy reports the floating-point flags a ufunc loop sets as warnings (under its default
    error state: invalid, divide and overflow). NaN and infinite inputs set none; the largest
    finite inputs may overflow an intermediate (alpha*x), never produce an invalid operation."""
    m, ps = mod("numba_cpu", name), defaults(name)
    default = {"divide": "warn", "over": "warn", "invalid": "warn", "under": "ignore"}
    calls = [
        lambda x: m.spike(x),
        lambda x: m.grad(x, *ps),
        lambda x: m.spike_bwd(x, np.ones_like(x), *ps),
    ]
    if has_origin(name):
        calls.append(lambda x: m.origin(x, *ps))
    special = np.array([v for v in SPECIAL if abs(v) != 3e38], dtype)
    huge = np.array([3e38, -3e38, np.finfo(dtype).max, -np.finfo(dtype).max], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(**default):
            for call in calls:
                call(special)
        with np.errstate(**(default | {"over": "ignore"})):
            for call in calls:
                call(huge)


def test_output_dtype_is_x_dtype_whatever_the_parameters(name):
    ps = defaults(name)
    variants = [
        ps,
        tuple(np.float64(p) for p in ps),
        tuple(np.full(3, p, np.float64) for p in ps),
        tuple(round(p) or 1 for p in ps),
    ]
    cpu, gpu, m = mod("numba_cpu", name), mod("numba_cuda", name), mod("jax", name)
    for dtype in (np.float32, np.float64):
        x = np.linspace(-1, 1, 3, dtype=dtype)
        for params in variants:
            fns = (cpu.grad, gpu.grad) + ((cpu.origin, gpu.origin) if has_origin(name) else ())
            for fn in fns:
                assert fn(x, *params).dtype == dtype, (fn, params)
            assert cpu.spike_bwd(x, np.ones(3, np.float64), *params).dtype == dtype
    for dtype in (jnp.float16, jnp.bfloat16, jnp.float32):
        x = jnp.linspace(-1, 1, 3, dtype=dtype)
        for params in variants[:3]:
            fns = (m.grad, m.spike, m.spike_jvp)
            fns += (m.origin, m.spike_learnable) if has_origin(name) else ()
            for fn in fns:
                assert fn(x, *(jnp.asarray(p) for p in params)).dtype == dtype
            g = jax.grad(lambda v, ps=params: m.spike(v, *ps).sum())(x)
            assert g.dtype == dtype


def test_numba_cpu_dtype_inside_njit():
    """Inside @njit a float literal is float64: the float32 loop must still be chosen."""
    m = mod("numba_cpu", "sigmoid")

    @numba.njit
    def user(v):
        return m.grad(v, 4.0), m.origin(v, 4), m.spike_bwd(v, 1.0, 4.0)

    out = user(np.float32(0.3))
    types = user.nopython_signatures[0].return_type.types
    assert all(t == numba.float32 for t in types), types
    np.testing.assert_allclose(out[0], m.grad(np.float32(0.3), 4.0), rtol=0)
    arrays = user(np.ones(3, np.float32))
    assert all(a.dtype == np.float32 for a in arrays)


@pytest.mark.cuda
def test_cuda_float16_and_device_parameter_dtypes():
    m = mod("numba_cuda", "multi_gaussian")
    x = np.linspace(-2, 2, 9).astype(np.float16)
    sigma = cuda.to_device(np.linspace(0.3, 0.7, 9))  # float64 on the device
    got = m.grad(x, 0.15, 6.0, sigma, 0.5)
    assert got.dtype == np.float16
    want = mod("numba_cpu", "multi_gaussian").grad(
        x.astype(np.float32), 0.15, 6.0, np.linspace(0.3, 0.7, 9), 0.5
    )
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-3, atol=1e-3)


def test_no_exact_zero_where_the_true_value_is_normal_under_jit(name):
    """XLA on the CPU flushes subnormal intermediates: exp(-88) is 0 there, and 4*exp(-88) (a
    normal float32) became 0 too. Scanned where the gradient decays through the smallest normal
    number, in float32 and bfloat16 (which share float32's exponent range)."""
    m = mod("jax", name)
    tail = np.logspace(0, 4, 2000)
    xs = np.concatenate([tail, -tail]).astype(np.float32)
    want = derivative(name, 1, xs.astype(np.float64))
    fn = jax.jit(jax.vmap(jax.grad(m.spike)))
    for dtype in (jnp.float32, jnp.bfloat16):
        x = jnp.asarray(xs, dtype)
        ref = derivative(name, 1, np.asarray(x, np.float64)) if dtype != jnp.float32 else want
        got = np.asarray(fn(x), np.float64)
        normal = np.abs(ref) >= np.finfo(np.float32).tiny
        flushed = normal & (got == 0)
        assert not flushed.any(), f"{dtype.__name__}: 0 at x = {xs[flushed][:3]}"
    if name == "sigmoid":  # the example: true value 2.4e-38
        g = jax.jit(jax.grad(m.spike))(jnp.float32(22.0))
        np.testing.assert_allclose(float(g), derivative(name, 1, [22.0])[0], rtol=1e-5)

"""exp of a product with its argument's rounding compensated (``ExpMonomial``): the rewrite, and
each backend's runtime against mpmath.

exp(u) amplifies a relative error d of its argument into |u|*d: with u = -alpha**2*x**2 rounded
in float32 at u ~ -80, the gaussian gradient was 38-64 ulp off. The runtimes carry u as an exact
pair hi + lo; the result must then be as accurate as the dtype's own exp of an exact argument.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy

from surrogen.generator.printers import ExpMonomial, compensated_exponentials

x, alpha, tau = sympy.symbols("x alpha tau", real=True)

# (scale, numerator atoms, denominator atoms) as the generated code passes them, and points
# spread over the exponent's range (u down to about -85 in float32, -700 in float64).
CASES = {
    "gaussian": (-1.0, ("x", "x", "a", "a"), ()),
    "sigmoid": (-1.0, ("a", "absx"), ()),
    "single_exponential": (1.0, ("x",), ("a",)),
    "half": (-0.5, ("x", "x", "a"), ("a",)),
}


def _truth(scale, num, den, values):
    with mpmath.workdps(40):
        u = mpmath.mpf(scale)
        for n in num:
            u *= mpmath.mpf(float(values[n]))
        for d in den:
            u /= mpmath.mpf(float(values[d]))
        return mpmath.exp(u)


def _ulps(got, truth, dtype):
    ref = np.asarray(float(truth), dtype=dtype)
    if not np.isfinite(ref) or abs(ref) < np.finfo(dtype).tiny:
        return None
    spacing = float(np.spacing(np.abs(ref)))
    return float(abs(mpmath.mpf(float(got)) - truth) / spacing)


def _points(dtype, case):
    rng = np.random.default_rng(7)
    limit = 85.0 if dtype == np.float32 else 700.0
    a = np.asarray(1.37, dtype=dtype)
    xs = []
    for target in np.linspace(-limit, limit, 240) + rng.uniform(-0.3, 0.3, 240):
        # x such that u is near target
        if case == "gaussian":
            if target > 0:
                continue
            xs.append(np.sqrt(-target) / float(a))
        elif case == "sigmoid":
            if target > 0:
                continue
            xs.append(-target / float(a))
        elif case == "single_exponential":
            xs.append(target * float(a))
        else:
            if target > 0:
                continue
            xs.append(np.sqrt(-2 * target / float(a)) * float(a))
    xs = np.asarray(xs, dtype=dtype)
    return np.concatenate([xs, -xs]), a


def _values(xv, a):
    return {"x": xv, "a": a, "absx": abs(xv)}


def _jax(dtype):
    jax = pytest.importorskip("jax")
    from surrogen.runtime import jax as rt

    def call(scale, num, den, xv, a):
        v = _values(xv, a)
        with jax.enable_x64(dtype == np.float64):
            return np.asarray(
                jax.jit(lambda xx, aa: rt.exp_monomial(scale, *_atoms(num, den, xx, aa)))(
                    jax.numpy.asarray(v["x"]), jax.numpy.asarray(v["a"])
                )
            )

    return call


def _atoms(num, den, xx, aa):
    import jax.numpy as jnp

    pick = {"x": xx, "a": aa, "absx": jnp.abs(xx)}
    return tuple(pick[n] for n in num), tuple(pick[d] for d in den)


def _torch(dtype):
    torch = pytest.importorskip("torch")
    from surrogen.runtime import torch as rt

    def call(scale, num, den, xv, a):
        xx, aa = torch.from_numpy(np.asarray(xv)), torch.tensor(a)
        pick = {"x": xx, "a": aa, "absx": xx.abs()}
        out = rt.exp_monomial(scale, [pick[n] for n in num], [pick[d] for d in den])
        return out.numpy()

    return call


def _numba_cpu(dtype):
    numba = pytest.importorskip("numba")
    from surrogen.runtime.numba_cpu import dw_div, dw_exp, dw_mul, dw_prod

    @numba.njit(error_model="numpy")
    def chain(kind, xv, a, one):  # the printer's nested calls for each case
        if kind == 0:
            return dw_exp(xv, -1.0, dw_mul(dw_mul(dw_prod(xv, xv), a), a))
        if kind == 1:
            return dw_exp(xv, -1.0, dw_prod(a, abs(xv)))
        if kind == 2:
            return dw_exp(xv, 1.0, dw_div(dw_prod(xv, one), a))
        return dw_exp(xv, -0.5, dw_div(dw_mul(dw_prod(xv, xv), a), a))

    def call(scale, num, den, xv, a):
        kind = list(CASES.values()).index((scale, num, den))
        return np.asarray([chain(kind, v, a[()], a.dtype.type(1.0)) for v in xv], dtype=dtype)

    return call


BACKENDS = {"jax": _jax, "torch": _torch, "numba_cpu": _numba_cpu}
# float32: the dtype's exp (XLA's about 1 ulp, libm's in float64 for Numba) and the final
# correction; float64 likewise.
LIMITS = {
    ("jax", np.float32): 1.6,
    ("torch", np.float32): 1.6,
    ("numba_cpu", np.float32): 0.51,
    ("jax", np.float64): 1.6,
    ("torch", np.float64): 1.6,
    ("numba_cpu", np.float64): 1.6,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_exp_of_a_product_is_accurate(case, backend, dtype):
    call = BACKENDS[backend](dtype)
    xs, a = _points(dtype, case)
    scale, num, den = CASES[case]
    got = call(scale, num, den, xs, a)
    assert got.dtype == dtype
    worst = 0.0
    for xv, y in zip(xs, got, strict=True):
        e = _ulps(y, _truth(scale, num, den, _values(xv, a)), dtype)
        if e is not None:
            worst = max(worst, e)
    assert worst <= LIMITS[(backend, dtype)], f"{worst:.3g} ulp"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_special_inputs(backend):
    """NaN gives NaN; +-inf arguments give exp's limits (0 and inf), never NaN."""
    call = BACKENDS[backend](np.float64)
    xs = np.array([np.nan, np.inf, -np.inf, 1e300, 0.0, -0.0], dtype=np.float64)
    a = np.asarray(1.0)
    g = call(-1.0, ("x", "x", "a", "a"), (), xs, a)
    assert np.isnan(g[0]) and list(g[1:]) == [0.0, 0.0, 0.0, 1.0, 1.0]
    s = call(1.0, ("x",), ("a",), xs, a)
    assert np.isnan(s[0]) and list(s[1:]) == [np.inf, 0.0, np.inf, 1.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_flush_safe_product_under_xla(dtype):
    """(c * shifted_exp_monomial) * exp_monomial_shift is c*exp(u), normal wherever the true
    value is, under jit on XLA:CPU (which flushes subnormals): sigmoid's gradient
    alpha*exp(-alpha|x|) at u down to ln(smallest normal / c)."""
    jax = pytest.importorskip("jax")
    from surrogen.runtime import jax as rt

    c = 6.0
    tiny = float(np.finfo(dtype).tiny)
    u = np.linspace(-60.0, math.log(tiny / c) + 1e-4, 400)
    xs = (-u / c).astype(dtype)

    def f(x):
        return (c * rt.shifted_exp_monomial(-1.0, (c, x), ())) * rt.exp_monomial_shift(
            -1.0, (c, x), ()
        )

    with jax.enable_x64(dtype == np.float64):
        got = np.asarray(jax.jit(f)(jax.numpy.asarray(xs)))
    assert got.dtype == dtype
    worst = 0.0
    for xv, y in zip(xs, got, strict=True):
        with mpmath.workdps(40):
            truth = c * mpmath.exp(-c * mpmath.mpf(float(xv)))
        e = _ulps(y, truth, dtype)
        assert e is not None and y != 0, (xv, y)
        worst = max(worst, e)
    assert worst <= 2.0, f"{worst:.3g} ulp"


def test_rewrite_takes_products_of_atoms_and_powers_of_two():
    g = sympy.exp(-(alpha**2) * x**2) * alpha
    out = compensated_exponentials(g, x)
    (m,) = out.atoms(ExpMonomial)
    assert sympy.simplify(m.as_exp() - sympy.exp(-(alpha**2) * x**2)) == 0
    half = compensated_exponentials(sympy.exp(-alpha * sympy.Abs(x) / 2), x)
    assert half.atoms(ExpMonomial)
    assert compensated_exponentials(sympy.exp(x / tau), x).atoms(ExpMonomial)
    # one rounding at most, a sum, a constant that is not a power of two, no x: left alone
    for e in (
        sympy.exp(-x),
        sympy.exp(x - alpha),
        sympy.exp(3 * alpha * x),
        sympy.exp(alpha * tau),
    ):
        assert compensated_exponentials(e, x) == e

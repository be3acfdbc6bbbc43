"""The Numba CPU runtime's own machinery: the float32 exp the kernels call, and the loop versions of
the ufuncs (contiguous, scalar parameters, general strides) giving one answer.

The exp is compared with mpmath (correctly rounded, at special and boundary inputs) and with
float64 libm on a dense sample of every float32 in its range; the loop versions are compared
with per-element calls, which run Numba's general loop (every argument a 0-d array).
"""

import importlib
import math

import mpmath
import numpy as np
import pytest

from tests.reference import defaults, has_origin, scaled_within_bounds

numba = pytest.importorskip("numba")
from surrogen.runtime import numba_cpu as runtime  # noqa: E402

with runtime.fast_loops():  # as the generated ufuncs are built

    @numba.vectorize(["float32(float32)"])
    def _exp32(x):
        return runtime.exp(x)


def _ulp32(v: float) -> float:
    """The spacing of float32 at |v| (subnormal spacing below the smallest normal)."""
    v = abs(v)
    if v < 2.0**-126:
        return 2.0**-149
    return 2.0 ** (math.floor(math.log2(v)) - 23)


def _correctly_rounded(x: np.float32) -> np.float32:
    with mpmath.workdps(60):
        return np.float32(float(mpmath.exp(mpmath.mpf(float(x)))))


SPECIAL = np.array(
    [0.0, -0.0, 1e-45, -1e-45, 1e-30, 0.5, -0.5, 1.0, -1.0, 0.34657359, -0.34657359, 10.0,
     -10.0, 50.0, -50.0, 87.0, -87.0, 88.0, 88.72283, 88.722839, 88.72284, 89.0, 100.0, 1e30,
     -87.33654, -87.33655, -90.0, -100.0, -103.27893, -103.972, -103.97208, -104.0, -110.0,
     -1e30, 3.4028235e38, -3.4028235e38],
    np.float32,
)  # fmt: skip


def test_exp32_is_correctly_rounded_at_boundaries_and_specials():
    """Against mpmath at 60 digits: overflow at 88.7228391, the last normal (-87.3365) and the
    last subnormal (-103.972) results, the reduction's interval ends (+-ln2/2), +-0, huge."""
    got = _exp32(SPECIAL)
    for x, y in zip(SPECIAL, got, strict=True):
        want = _correctly_rounded(x)
        assert y == want or (np.isinf(want) and np.isinf(y)), (x, y, want)
        assert y.dtype == np.float32
    with np.errstate(all="raise"):  # NaN and +-inf: no warning (the loop drops the flags)
        special = _exp32(np.array([np.nan, np.inf, -np.inf], np.float32))
    assert np.isnan(special[0]) and special[1] == np.inf and special[2] == 0.0


def test_exp32_within_half_an_ulp_on_every_1009th_float32():
    """Every 1009th float32 from -104 to 89 (2 million inputs, subnormal results included):
    within 0.5 ulp (plus the polynomial's 1e-13 relative) of the true value, taken from float64
    libm (1e-16 relative: 1e-8 of a float32 ulp)."""
    lo, hi = np.float32(-104.0).view(np.int32), np.float32(89.0).view(np.int32)
    negative = np.arange(np.float32(-0.0).view(np.int32), lo, 1009, dtype=np.int64)
    positive = np.arange(0, hi, 1009, dtype=np.int64)
    xs = np.concatenate([negative, positive]).astype(np.int32).view(np.float32)
    true = np.exp(xs.astype(np.float64))
    overflow = true > float(np.finfo(np.float32).max) * (1 + 2.0**-25)  # rounds to inf
    with np.errstate(over="ignore"):
        got = _exp32(xs).astype(np.float64)
    assert np.all(np.isinf(got[overflow])) and np.all(np.isfinite(got[~overflow]))
    xs, got, true = xs[~overflow], got[~overflow], true[~overflow]
    ulp = np.where(
        true < 2.0**-126, 2.0**-149, np.exp2(np.floor(np.log2(np.maximum(true, 2.0**-126))) - 23)
    )
    err = np.abs(got - true) / ulp
    worst = int(np.argmax(err))
    assert err[worst] <= 0.5 + 1e-5, (xs[worst], got[worst], true[worst], err[worst])
    assert _ulp32(1.0) == 2.0**-23  # the helper itself


def _per_element(fn, arrays):
    """fn called on each element as 0-d arrays: Numba's general (strided) loop, one at a time."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    full = [np.broadcast_to(a, shape) for a in arrays]
    out = np.empty(shape, arrays[0].dtype)
    for i in np.ndindex(shape):
        out[i] = fn(*(np.asarray(a[i]) for a in full))
    return out


def _inputs(dtype):
    rng = np.random.default_rng(7)
    tiny = np.finfo(dtype).smallest_subnormal
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, 1.0, -1.0, 1e4, -1e4]
    return np.concatenate([specials, rng.normal(0, 2, 40)]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, pytest.param(np.float64, marks=pytest.mark.slow)])
@pytest.mark.parametrize("fn", ["origin", "grad", "spike_bwd"])
def test_loop_versions_agree_with_the_general_loop(name, fn, dtype):
    """Contiguous x (and g) with scalar parameters, with array parameters, with a scalar g, and
    with one array and one scalar parameter: each result equals the general loop's, bit for bit
    (NaN where it is NaN)."""
    if fn == "origin" and not has_origin(name):
        pytest.skip("gradient-only family: no origin function")
    m = importlib.import_module(f"surrogen.numba_cpu.{name}")
    f = getattr(m, fn)
    x = _inputs(dtype)
    g = np.linspace(-2, 2, x.size).astype(dtype)
    scalars = [dtype(p) for p in defaults(name)]
    arrays = [np.full(x.shape, p) for p in scalars]
    if scalars:
        arrays[0] = scaled_within_bounds(name, 0, np.linspace(0.5, 1.5, x.size)).astype(dtype)
    cases = {"scalar parameters": scalars, "array parameters": arrays}
    if len(scalars) > 1:
        cases["array and scalar parameters"] = [arrays[0], *scalars[1:]]
    leads = {"x, g": [x, g], "x, scalar g": [x, dtype(0.75)]} if fn == "spike_bwd" else {"x": [x]}
    for lead_label, lead in leads.items():
        for label, params in cases.items():
            args = [*lead, *params]
            want = _per_element(f, [np.asarray(a) for a in args])
            got = f(*args)
            np.testing.assert_array_equal(got, want, err_msg=f"{lead_label}; {label}")
            assert got.dtype == dtype


@numba.njit(error_model="numpy")
def _widened_exp_and_pow(xs, a, b):
    """The widened kernels' float64 exponential and power, as their float32 loops call them."""
    e, p = np.empty_like(xs), np.empty_like(xs)
    w = np.float32(0.0)  # the input type of a float32 loop
    for i in range(xs.size):
        e[i] = runtime.exp_for(w, xs[i])
        p[i] = runtime.pow_for(w, a[i], b[i])
    return e, p


def test_widened_exp_and_pow_against_mpmath():
    """``exp_for``/``pow_for`` of the widened float32 loops' float64 arithmetic, against mpmath:
    the exp within 1e-15 relative on [-1080, 710] (subnormal results, overflow to inf, underflow
    to 0 and NaN included), the power within 1e-12 (float32's resolution is 6e-8); at a
    non-positive, infinite or NaN base or exponent it is C's pow (NumPy's)."""
    xs = np.concatenate([np.linspace(-1080.0, 710.0, 4001), [-745.0, -708.5, 709.7, 0.0, -0.0]])
    a = np.concatenate([np.geomspace(1e-30, 1e30, 4001), [0.0, -2.0, np.inf, 1.0, 3.0]])
    b = np.concatenate([np.linspace(-2.5, 2.5, 4001), [2.0, 2.0, -1.5, 7.3, -1.0]])
    e, p = _widened_exp_and_pow(xs, a, b)
    with mpmath.workdps(40):
        for x, got in zip(xs.tolist(), e.tolist(), strict=True):
            want = float(mpmath.exp(x))
            if want == 0.0 or math.isinf(want) or want < 2.0**-1022:
                assert abs(got - want) <= 2.0**-1022 * 1e-9 or got == want, (x, got, want)
            else:
                assert abs(got - want) <= 1e-15 * want, (x, got, want)
        for base, ex, got in zip(a.tolist(), b.tolist(), p.tolist(), strict=True):
            special = base <= 0 or math.isinf(base)
            want = float(np.power(base, ex)) if special else float(mpmath.power(base, ex))
            assert got == want or abs(got - want) <= 1e-12 * abs(want), (base, ex, got, want)
    e, p = _widened_exp_and_pow(np.array([np.nan, np.inf, -np.inf]), np.full(3, np.nan), np.ones(3))
    assert np.isnan(e[0]) and e[1] == np.inf and e[2] == 0.0 and np.all(np.isnan(p))
    # C's special cases, every pair of special bases and exponents (NumPy's float64 power is C's)
    bases = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 5e-324, -3.0]
    exps = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 2.5]
    a = np.array([x for x in bases for _ in exps])
    b = np.array([y for _ in bases for y in exps])
    _, p = _widened_exp_and_pow(np.zeros_like(a), a, b)
    with np.errstate(all="ignore"):
        want = np.power(a, b)
    close = np.isclose(p, want, rtol=1e-12, atol=0.0, equal_nan=True)
    wrong = ~(close | (p == want))
    assert not wrong.any(), list(zip(a[wrong], b[wrong], p[wrong], want[wrong], strict=True))


def test_widened_log_against_mpmath():
    """The float64 log behind the widened power: within 4e-16 (absolute below 1, relative
    above) from the smallest subnormal to the largest float, both sides of sqrt(2) and of 1;
    -inf at 0, inf at inf, NaN for NaN."""

    @numba.njit
    def logs(a):
        out = np.empty_like(a)
        for i in range(a.size):
            out[i] = runtime._log64_of(a[i])
        return out

    edges = [2.0**-0.5, np.nextafter(2.0**-0.5, 0), math.sqrt(2), np.nextafter(math.sqrt(2), 0)]
    xs = np.concatenate([np.geomspace(5e-324, 1.7e308, 8001), edges, [1 + 2**-52, 1 - 2**-53]])
    got = logs(xs)
    with mpmath.workdps(40):
        for x, y in zip(xs.tolist(), got.tolist(), strict=True):
            want = mpmath.log(x)
            assert abs(y - want) <= 4e-16 * max(1, abs(want)), (x, y, want)
    special = logs(np.array([0.0, np.inf, np.nan]))
    assert special[0] == -np.inf and special[1] == np.inf and np.isnan(special[2])

"""The independent reference: origin and d(origin)/dx from the spec, evaluated by mpmath.

Nothing here goes through surrogen's printers, templates or emitted-gradient choice: the values come
from SymPy's own derivative of the spec's origin, evaluated at 30+ significant digits.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from pathlib import Path

import mpmath
import numpy as np
import sympy

from surrogen.generator.checks import CheckedModel, run_checks
from surrogen.generator.spec import load_specs
from surrogen.generator.symbolic import build_model, pointwise_diff

ROOT = Path(__file__).resolve().parents[1]
SPECS = {s.name: s for s in load_specs(ROOT / "specs")}
SPEC_NAMES = sorted(SPECS)
# Enough digits that raw derivatives with cancelling terms stay exact out to |x| = 3e38
# (superspike's raw d/dx is a difference of two ~1/(beta*|x|) terms).
DPS = 100
EXTREME = [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 10.0, -10.0, 1e4, -1e4, 1e30, -1e30, 3e38, -3e38]
EXTREME += [float("inf"), -float("inf")]


@functools.cache
def checked(name: str) -> CheckedModel:
    return run_checks(build_model(SPECS[name]))


def defaults(name: str) -> tuple[float, ...]:
    return tuple(p.default for p in SPECS[name].params)


@dataclass(frozen=True)
class Reference:
    x: np.ndarray  # float64 holding values exactly representable in the tested dtype
    origin: np.ndarray
    grad: np.ndarray
    # |x * grad'(x)|: how far rounding x to the dtype moves grad (relative condition number times
    # |grad|, and finite where grad crosses zero); the same for the origin, |x * grad(x)|.
    grad_slope: np.ndarray
    origin_slope: np.ndarray
    # |x * grad'(x) / grad(x)|: how much rounding the input can amplify (relative; 0 where the
    # value is 0); the same for the origin. ``assert_strict`` caps it.
    grad_cond: np.ndarray
    origin_cond: np.ndarray


def grid(name: str, dtype: np.dtype) -> np.ndarray:
    """>= 1000 points: the extreme grid, a dense grid, and both sides of every breakpoint."""
    c = checked(name)
    width = max([abs(b) for b in c.breakpoints] + [1.0])
    finfo = np.finfo(dtype)
    extreme = np.clip(np.array(EXTREME), -float(finfo.max), float(finfo.max))
    extreme = np.where(np.isinf(EXTREME), EXTREME, extreme)
    dense = np.linspace(-10 * width, 10 * width, 1001)
    offset = 1e-4 if finfo.bits <= 32 else 1e-9  # beside a breakpoint, beyond dtype rounding of it
    near = [b + s * d * width for b in c.breakpoints for s in (-1, 1) for d in (offset, 1e-2)]
    xs = np.concatenate([extreme, dense, np.array(near)]).astype(dtype)
    return xs.astype(np.float64)


def lambdify_mpmath(args, expr):
    """``expr`` as an mpmath function, with ``Mod(a, b)`` written ``a - b*floor(a/b)``: SymPy's
    Python printers print ``2*Mod(x, p)`` as ``2*x % p``, which Python reads as ``(2*x) % p``."""
    expr = expr.replace(sympy.Mod, lambda a, b: a - b * sympy.floor(a / b))
    return sympy.lambdify(args, expr, "mpmath", dummify=True)


def mp_params(name: str, values) -> list:
    """Parameter values for an mpmath function: integer parameters as Python ints (a Sum's bound
    is a ``range`` argument), the others as mpf."""
    return [
        int(v) if p.domain == "integer" else mpmath.mpf(float(v))
        for p, v in zip(SPECS[name].params, values, strict=True)
    ]


def real_params(name: str) -> list[int]:
    """Indices of the parameters with a derivative (not integer ones)."""
    return [i for i, p in enumerate(SPECS[name].params) if p.domain != "integer"]


def scaled_within_bounds(name: str, index: int, factor):
    """``params[index]``'s default moved by ``factor`` (a number or a NumPy array), inside the
    parameter's declared bounds. Unbounded: ``default*factor``. With a lower bound L (``min`` or
    ``above``): ``L + (default - L)*factor``, the distance from the bound scaled, so any factor > 0
    stays valid (q_pseudo_spike's alpha > 1); with only an upper bound U: ``U - (U - default)*
    factor``. An integer parameter: ``default*factor`` rounded and clipped to [min, max]."""
    p = SPECS[name].params[index]
    factor = np.asarray(factor, dtype=np.float64)
    low = p.min if p.min is not None else p.above
    high = p.max if p.max is not None else p.below
    if p.domain == "integer":
        value = np.round(p.default * factor)
        value = np.clip(
            value, low if low is not None else -np.inf, high if high is not None else np.inf
        )
    elif low is not None:
        value = low + (p.default - low) * factor
    elif high is not None:
        value = high - (high - p.default) * factor
    else:
        value = p.default * factor
    inside = np.ones(value.shape, bool)
    if p.min is not None:
        inside &= value >= p.min
    if p.above is not None:
        inside &= value > p.above
    if p.max is not None:
        inside &= value <= p.max
    if p.below is not None:
        inside &= value < p.below
    assert inside.all(), f"{name}.{p.name}: {value} leaves its bounds ({p.describe_bounds()})"
    return value if value.ndim else (int(value) if p.domain == "integer" else float(value))


def has_origin(name: str) -> bool:
    """False for a gradient-only family (declared by ``grad:``, no origin function)."""
    return SPECS[name].origin is not None


@functools.cache
def _functions(name: str):
    c = checked(name)
    m = c.model
    args = (m.x, *m.params)
    second = pointwise_diff(m.grad, m.x)
    origin = m.origin if m.origin is not None else sympy.nan
    return (
        lambdify_mpmath(args, origin),
        lambdify_mpmath(args, m.grad),
        lambdify_mpmath(args, second),
    )


def _at(x: float) -> mpmath.mpf:
    return mpmath.mpf(x)


def _evaluate(f, x: float, ps) -> mpmath.mpf:
    """f(x), and at x = +-inf its limit: f(+-1e150) if settled, else 0 (decaying) or +-inf
    (growing) judged on far points, and NaN where it has none (it oscillates)."""
    if not np.isinf(x):
        return f(mpmath.mpf(x), *ps)
    sign = 1 if x > 0 else -1
    # A periodic function has no limit: probed off any simple period (sqrt(2)*10**e), its far
    # values spread and go up and down.
    probes = [f(sign * mpmath.sqrt(2) * mpmath.mpf(10) ** e, *ps) for e in range(20, 33, 2)]
    steps = [b - a for a, b in itertools.pairwise(probes)]
    spread = max(probes) - min(probes)
    if spread > mpmath.mpf("1e-6") * max(1, *map(abs, probes)) and not (
        all(s >= 0 for s in steps) or all(s <= 0 for s in steps)
    ):
        return mpmath.nan
    near, far = f(sign * mpmath.mpf("1e100"), *ps), f(sign * mpmath.mpf("1e150"), *ps)
    if abs(near) < mpmath.mpf("1e-320") and abs(far) < mpmath.mpf("1e-320"):
        return mpmath.mpf(0)
    if abs(far - near) <= mpmath.mpf("1e-20") * abs(far):
        return far
    if abs(far) < abs(near):
        return mpmath.mpf(0)
    return mpmath.inf if far > 0 else -mpmath.inf


@functools.cache
def reference(name: str, dtype_name: str, params: tuple[float, ...] | None = None) -> Reference:
    """The reference on ``grid(name, dtype)``: the grid rounded to that dtype, evaluated exactly."""
    return reference_at(name, grid(name, np.dtype(dtype_name)), params)


def reference_at(name: str, xs: np.ndarray, params: tuple[float, ...] | None = None) -> Reference:
    """origin, d/dx and their input-rounding slopes at the float64 points ``xs``, at DPS digits."""
    origin, grad, second = _functions(name)
    # Integer parameters stay Python ints: a Sum's bound is a range() argument.
    ps = [
        int(p) if spec.domain == "integer" else mpmath.mpf(p)
        for p, spec in zip(
            params if params is not None else defaults(name), SPECS[name].params, strict=True
        )
    ]
    o, g, gs, os_, gc, oc = [], [], [], [], [], []
    with mpmath.workdps(DPS):
        for x in xs:
            xm = _at(x)
            ov, gv, sv = (_evaluate(f, x, ps) for f in (origin, grad, second))
            o.append(float(ov))
            g.append(float(gv))
            finite = np.isfinite(x)
            gs.append(float(abs(xm * sv)) if finite else 0.0)
            os_.append(float(abs(xm * gv)) if finite else 0.0)
            gc.append(float(abs(xm * sv / gv)) if gv != 0 and finite else 0.0)
            oc.append(float(abs(xm * gv / ov)) if ov != 0 and finite and ov == ov else 0.0)
    return Reference(xs, *(np.array(v) for v in (o, g, gs, os_, gc, oc)))


# Per-dtype tolerance: k units of roundoff, scaled by (1 + condition number) of the evaluation.
ULPS = {"float16": 16, "bfloat16": 16, "float32": 16, "float64": 64}


def assert_close(
    got: np.ndarray,
    want: np.ndarray,
    slope: np.ndarray,
    xs: np.ndarray,
    dtype_name: str,
    what: str,
    scale: float = 0.0,
) -> None:
    """|got - want| <= k*eps*(|want| + slope + scale) + tiny, where want is finite in the dtype.

    ``slope`` is |x * f'(x)|, the change of f when x is rounded to the dtype (for |want| > 0 the
    relative condition number times |want|; at a zero crossing it is what remains). ``scale``
    adds an absolute allowance: origins are step approximations of height ~1 whose tails are
    computed as 1/2 + (something near -1/2) (arctan, erf), so they are held to k*eps absolutely;
    gradients, what training uses, are held to a relative tolerance.
    """
    import ml_dtypes

    finfo = ml_dtypes.finfo(dtype_name) if dtype_name == "bfloat16" else np.finfo(dtype_name)
    got = np.asarray(got, dtype=np.float64)
    representable = np.abs(want) <= float(finfo.max)
    k_eps = ULPS[dtype_name] * float(finfo.eps)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf where both are infinite
        tol = k_eps * (np.abs(want) + np.nan_to_num(slope) + scale) + float(finfo.tiny)
        bad = representable & ~(np.abs(got - want) <= tol)
    if bad.any():
        i = np.flatnonzero(bad)[:5]
        rows = ", ".join(f"x={xs[j]!r}: got {got[j]!r}, want {want[j]!r}" for j in i)
        raise AssertionError(f"{what} [{dtype_name}]: {bad.sum()} of {len(xs)} points off: {rows}")


# --- strict per-dtype comparison ------------------------------------------------------------------
#
# The tolerance of ``assert_strict`` (test_dtypes_strict.py, test_edge_values.py), per point:
#
#     tol = R * ulp_d(max(|got|, |want|))              rounding the result to the storage dtype
#         + K * eps_c * (|want| + slope + A)          the arithmetic in dtype c
#         + tiny_d                                     a subnormal result flushed to zero
#
# d is the storage dtype and c the arithmetic dtype (float32 for float16/bfloat16, which every
# backend computes in float32 and rounds once: R = 1/2; R = 0 where d = c). slope = |x f'(x)|
# = cond * |f(x)|, cond = |x f'(x)/f(x)| the condition number of f at x: an input or intermediate
# rounded by eps changes f by cond*eps relatively, i.e. by slope*eps absolutely, which stays
# finite where f crosses zero (a Fourier series' gradient; cond is infinite there). K = 4 units:
# the kernels measure at most 1.5 (Numba float32/float64) on
# every spec's grid, so 4 leaves room for another libm and still rejects a planted error of
# ``PLANTED[d]`` relative (1e-3 in float16/bfloat16: about 1 ulp of float16, and in bfloat16,
# eps 7.8e-3, visible where it moves the rounding to the neighbour; 1e-6 in float32 = 8.4 eps):
# the tests assert that it does.
# A = H/2 for origins, H = |origin(+inf) - origin(-inf)| the height of the step: an origin
# computed as H/2 + h(x) with h -> -H/2 in the tail cannot be relatively accurate where it is
# small (the sum cancels); it is held to K*eps_c*H/2 absolutely there. A = 0 for gradients,
# which training uses: relative everywhere.
# tiny_d: XLA on the CPU flushes subnormal results (bfloat16 shares float32's exponent range).

STRICT_K = 4
ORIGIN_ABSOLUTE = 0.5
ARITHMETIC = {
    "float16": "float32",
    "bfloat16": "float32",
    "float32": "float32",
    "float64": "float64",
}
PLANTED = {"float16": 1e-3, "bfloat16": 1e-3, "float32": 1e-6, "float64": 1e-13}


def finfo(dtype_name: str):
    import ml_dtypes

    return ml_dtypes.finfo(dtype_name) if dtype_name == "bfloat16" else np.finfo(dtype_name)


def np_dtype(dtype_name: str) -> np.dtype:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16) if dtype_name == "bfloat16" else np.dtype(dtype_name)


def as_dtype(values: np.ndarray, dtype_name: str) -> np.ndarray:
    """float64 values rounded to the dtype (bfloat16 through ml_dtypes)."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float64).astype(np_dtype(dtype_name))


def ulp(values: np.ndarray, dtype_name: str) -> np.ndarray:
    """The spacing of the dtype at |values| (its smallest subnormal at 0), as float64."""
    f = finfo(dtype_name)
    a = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.floor(np.log2(np.where((a > 0) & np.isfinite(a), a, 1.0)))
    return np.exp2(np.maximum(e, int(f.minexp)) - int(f.nmant))


def strict_bad(
    got: np.ndarray,
    want: np.ndarray,
    slope: np.ndarray,
    dtype_name: str,
    absolute: float = 0.0,
    extra: np.ndarray | float = 0.0,
) -> np.ndarray:
    """True where ``got`` is off by more than the tolerance above (where ``want`` is finite and
    representable in the dtype; there NaN or inf in ``got`` is always off). ``extra`` is an
    absolute allowance the caller derives (e.g. one more rounding inside the computation)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    f, c = finfo(dtype_name), ARITHMETIC[dtype_name]
    rounding = 0.5 if c != dtype_name else 0.0
    eps_c = float(np.finfo(c).eps)
    representable = np.isfinite(want) & (np.abs(want) <= float(f.max))
    with np.errstate(invalid="ignore", over="ignore"):
        tol = (
            rounding * ulp(np.maximum(np.abs(got), np.abs(want)), dtype_name)
            + STRICT_K * eps_c * (np.abs(want) + np.nan_to_num(slope) + absolute)
            + float(f.tiny)
            + extra
        )
        ok = np.abs(got - want) <= tol
    infinite = np.isinf(want) & (got != want)  # the true value is +-inf: got must be too
    nan = np.isnan(want) & ~np.isnan(got)  # NaN in gives NaN out
    return (representable & ~ok) | infinite | nan


def assert_strict(
    got: np.ndarray,
    want: np.ndarray,
    slope: np.ndarray,
    xs: np.ndarray,
    dtype_name: str,
    what: str,
    absolute: float = 0.0,
    extra: np.ndarray | float = 0.0,
) -> None:
    """``got`` within the strict tolerance of ``want`` at every point; names the first few off."""
    bad = strict_bad(got, want, slope, dtype_name, absolute, extra)
    if bad.any():
        got64 = np.asarray(got, dtype=np.float64)
        i = np.flatnonzero(bad)[:5]
        rows = ", ".join(f"x={xs[j]!r}: got {got64[j]!r}, want {want[j]!r}" for j in i)
        raise AssertionError(f"{what} [{dtype_name}]: {bad.sum()} of {len(xs)} points off: {rows}")


def assert_rejects_planted(
    want: np.ndarray,
    slope: np.ndarray,
    dtype_name: str,
    what: str,
    absolute: float = 0.0,
    extra: np.ndarray | float = 0.0,
) -> None:
    """The tolerance is tight: a kernel off by PLANTED[dtype] relative (and otherwise exact,
    rounded to the dtype) fails at some point of this grid."""
    planted = as_dtype(np.asarray(want) * (1 + PLANTED[dtype_name]), dtype_name)
    assert strict_bad(planted, want, slope, dtype_name, absolute, extra).any(), (
        f"{what} [{dtype_name}]: a {PLANTED[dtype_name]:g} relative error would pass"
    )


def arithmetic_params(params: tuple[float, ...], dtype_name: str) -> tuple[float, ...]:
    """Parameters as the kernel sees them: rounded to the arithmetic dtype."""
    c = np.dtype(ARITHMETIC[dtype_name]).type
    return tuple(float(c(p)) for p in params)


def other_params(name: str, which: int = 1) -> tuple[float, ...]:
    """A non-default parameter set, each parameter moved by a different factor (so that two
    parameters equal at the defaults differ here, and a swapped pair shows)."""
    factors = [(1.5, 0.75, 1.25, 0.875), (0.625, 1.375, 0.8125, 1.1875)][which - 1]
    out = []
    for i, p in enumerate(SPECS[name].params):
        if p.domain == "integer":
            out.append(p.default + which)
        else:
            out.append(p.default * factors[i % 4] if p.default else 0.5 * which)
    return tuple(out)


def strict_grid(name: str, dtype_name: str, params: tuple[float, ...]) -> np.ndarray:
    """Like ``grid``, at ``params``: both sides of every breakpoint beyond the dtype's rounding,
    and no point so close to a parameter-dependent breakpoint that the kernel's rounded
    threshold could put it on the other side (float64 values representable in the dtype)."""
    import mpmath as _mp

    from surrogen.generator.numeric import numeric_breakpoints

    c = checked(name)
    with _mp.workdps(40):
        ps = [_mp.mpf(p) for p in params]
        exact = [bool(not b.free_symbols) for b in c.model.breakpoints]
        bps = [float(b) for b in numeric_breakpoints(c.model, ps)]
    fixed = {float(b) for b, e in zip(c.model.breakpoints, exact, strict=True) if e and b.is_number}
    width = max([abs(b) for b in bps] + [1.0])
    f = finfo(dtype_name)
    extreme = np.clip(np.array(EXTREME), -float(f.max), float(f.max))
    extreme = np.where(np.isinf(EXTREME), EXTREME, extreme)
    dense = np.linspace(-10 * width, 10 * width, 401)
    offset = max(1e-4, 8 * float(f.eps))
    near = [b + s * d * max(1.0, abs(b)) for b in bps for s in (-1, 1) for d in (offset, 1e-2)]
    xs = as_dtype(np.concatenate([extreme, dense, np.array(near)]), dtype_name).astype(np.float64)
    band = 8 * float(np.finfo(ARITHMETIC[dtype_name]).eps)
    keep = np.ones(xs.shape, bool)
    for b in bps:
        if b in fixed:
            continue
        keep &= ~(np.abs(xs - b) <= band * max(1.0, abs(b)))
    return xs[keep]


# Limits at +-inf from f(+-1e100) and f(+-1e150) need more digits than the exponent: raw
# derivatives cancel there (superspike's is a difference of two ~1/(beta*|x|) terms).
LIMIT_DPS = 400


def limit_at_infinity(name: str, which: str, sign: int, params: tuple[float, ...]) -> float:
    """origin or grad at x = sign*inf: f(1e150) if settled, 0 if decaying, else +-inf."""
    origin, grad, _ = _functions(name)
    f = origin if which == "origin" else grad
    with mpmath.workdps(LIMIT_DPS):
        ps = mp_params(name, params)
        # A periodic function has no limit (NaN): its far values spread and go up and down.
        probes = [f(sign * mpmath.sqrt(2) * mpmath.mpf(10) ** e, *ps) for e in range(20, 33, 2)]
        steps = [b - a for a, b in itertools.pairwise(probes)]
        if max(probes) - min(probes) > mpmath.mpf("1e-6") * max(1, *map(abs, probes)) and not (
            all(s >= 0 for s in steps) or all(s <= 0 for s in steps)
        ):
            return float("nan")
        near, far = f(sign * mpmath.mpf("1e100"), *ps), f(sign * mpmath.mpf("1e150"), *ps)
        if abs(far) < mpmath.mpf("1e-320") or abs(far - near) <= mpmath.mpf("1e-20") * abs(far):
            return float(far) if abs(far) >= mpmath.mpf("1e-320") else 0.0
        if abs(far) < abs(near):
            return 0.0
        return float("inf") if far > 0 else -float("inf")


def strict_reference_at(name: str, xs: np.ndarray, params: tuple[float, ...]) -> Reference:
    """``reference_at`` with the limits at +-inf taken at LIMIT_DPS digits."""
    ref = reference_at(name, xs, params)
    for i in np.flatnonzero(np.isinf(xs)):
        sign = 1 if xs[i] > 0 else -1
        ref.origin[i] = limit_at_infinity(name, "origin", sign, params)
        ref.grad[i] = limit_at_infinity(name, "grad", sign, params)
    return ref


def origin_height(name: str, params: tuple[float, ...]) -> float:
    """|origin(+inf) - origin(-inf)|, the scale of the step (0 where it is unbounded); for an
    origin with no limits (a periodic one oscillates), the largest |origin| on the dense grid:
    computed as a constant plus an oscillation, it has the same cancellation in its troughs."""
    if not has_origin(name):
        return 0.0
    low = limit_at_infinity(name, "origin", -1, params)
    high = limit_at_infinity(name, "origin", 1, params)
    if np.isnan(low) or np.isnan(high):
        values = strict_reference_at(name, grid(name, np.dtype("float64")), params).origin
        return float(np.max(np.abs(values[np.isfinite(values)])))
    height = abs(high - low)
    return height if np.isfinite(height) else 0.0


@functools.cache
def strict_reference(name: str, dtype_name: str, params: tuple[float, ...]) -> Reference:
    """The reference on ``strict_grid`` at ``params`` rounded to the arithmetic dtype."""
    ps = arithmetic_params(params, dtype_name)
    return strict_reference_at(name, strict_grid(name, dtype_name, ps), ps)


def reference_per_point(name: str, xs: np.ndarray, rows: list[tuple[float, ...]]) -> Reference:
    """origin, grad and condition numbers at ``xs[i]`` with parameters ``rows[i]`` (per-neuron)."""
    parts = [strict_reference_at(name, xs[i : i + 1], rows[i]) for i in range(len(xs))]
    return Reference(
        xs,
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("origin", "grad")),
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("grad_slope", "origin_slope", "grad_cond", "origin_cond")
        ),
    )

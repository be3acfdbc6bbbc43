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
    o, g, gc, oc = [], [], [], []
    with mpmath.workdps(DPS):
        for x in xs:
            xm = _at(x)
            ov, gv, sv = (_evaluate(f, x, ps) for f in (origin, grad, second))
            o.append(float(ov))
            g.append(float(gv))
            gc.append(float(abs(xm * sv)) if np.isfinite(x) else 0.0)
            oc.append(float(abs(xm * gv)) if np.isfinite(x) else 0.0)
    return Reference(xs, np.array(o), np.array(g), np.array(gc), np.array(oc))


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

"""The choice of the emitted forms: candidate rewrites of the gradient and the origin, each proven
equal to the exact expression and scored in float32 and float64 on an extreme grid.

The score counts NaN/inf where the true value is finite, values off by more than a tolerance
(e.g. flushed to 0), and the worst float32 relative error; the cheapest accurate form wins.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy

from .numeric import (
    REFERENCE_DPS,
    Evaluator,
    at_dps,
    fmt,
    lambdify,
    limit_value,
    numeric_breakpoints,
    param_sets,
    where,
    worst_difference,
)
from .symbolic import SurrogateModel
from .verify import CheckError

EXTREME_GRID: tuple[float, ...] = (
    0.0,
    -0.0,
    1e-30,
    -1e-30,
    1.0,
    -1.0,
    10.0,
    -10.0,
    1e4,
    -1e4,
    1e30,
    -1e30,
)
EXTREME_GRID += (3e38, -3e38, float("inf"), -float("inf"))
DENSE_POINTS = 801  # on [-10w, 10w], w = the largest |breakpoint| (at least 1)
# The dtypes whose emitted form must stay finite, with the relative error counted as "wrong".
FLOAT_CHECKS: dict[np.dtype[Any], float] = {
    np.dtype(np.float32): 1e-4,
    np.dtype(np.float64): 1e-10,
}
# A form within this many float32 epsilons everywhere counts as accurate; among accurate forms
# the one with the fewest operations wins.
ACCURATE_EPS = 8


# --- candidates --------------------------------------------------------------------------------


def _per_branch(expr: sympy.Expr, f: Callable[[sympy.Expr], sympy.Expr]) -> sympy.Expr:
    if isinstance(expr, sympy.Piecewise):
        return sympy.Piecewise(*[(f(e), c) for e, c in expr.args])
    return f(expr)


def fold_even(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """Write each branch as a function of |x|: e(x) -> e(|x|) (valid where e is even or x >= 0).

    For an even gradient this turns ``exp(-a*x)/(1 + exp(-a*x))**2`` (inf/inf in float32 for
    a*x < -88) into ``exp(-a*|x|)/(1 + exp(-a*|x|))**2``, which only ever underflows, and lets SymPy
    drop ``sign(x)*x`` terms. Validity is not assumed: ``choose`` proves the folded form equal.
    """
    y = sympy.Symbol("_y", positive=True)
    return _per_branch(expr, lambda e: e.subs(x, y).subs(y, sympy.Abs(x)))


def _decaying_exponentials(expr: sympy.Expr) -> sympy.Expr:
    """tanh(u) -> (1 - e)/(1 + e) with e = exp(-2u), simplified as a rational function of e.

    Cancelling in e (not in exp(...), which SymPy would normalise to growing exponentials) turns
    k*(1 - tanh(k*x)**2)/2 into 2*k*e/(1 + e)**2.
    """
    found: dict[sympy.Dummy, sympy.Expr] = {}

    def tanh(u: sympy.Expr) -> sympy.Expr:
        e = sympy.Dummy("e", positive=True)
        found[e] = sympy.exp(-2 * u)
        return (1 - e) / (1 + e)

    replaced = expr.replace(sympy.tanh, tanh)
    if not found:
        return expr
    return sympy.factor(sympy.cancel(replaced)).subs(found)


def periodic_reduction(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr | None:
    """``expr`` with x reduced to [-T/2, T/2] when x enters only through sin/cos of integer
    multiples of one frequency (a Fourier series of period T); None otherwise.

    ``sin(c*x)`` with c*x beyond the float32 range is NaN, although the true value is finite;
    ``Mod(x, T)`` is exact in floating point, so the reduced argument never overflows. The result
    is proven equal before use (``choose``), like every candidate.
    """
    trig = [a for a in expr.atoms(sympy.sin, sympy.cos) if a.has(x)]
    if not trig:
        return None
    hidden = expr.subs({a: sympy.Dummy() for a in trig})
    coefficients = []
    for atom in trig:
        coefficient = sympy.simplify(atom.args[0] / x)
        if coefficient.has(x):
            return None
        coefficients.append(coefficient)
    if hidden.has(x):
        return None  # x also appears outside the trigonometric functions: not periodic
    ratios = [sympy.nsimplify(sympy.simplify(c / coefficients[0])) for c in coefficients]
    if not all(isinstance(r, sympy.Rational) for r in ratios):
        return None
    denominator = functools.reduce(sympy.ilcm, [int(r.q) for r in ratios], 1)
    multiples = [int(r * denominator) for r in ratios]
    base = coefficients[0] * functools.reduce(sympy.igcd, multiples) / denominator
    period = sympy.Abs(2 * sympy.pi / base)

    # x mod T centred on 0, with -x's for x < 0: exact in floating point for either sign, so an
    # even or odd expression stays exactly even or odd.
    def centred(u: sympy.Expr) -> sympy.Expr:
        r = sympy.Mod(u, period)
        return sympy.Piecewise((r - period, r > period / 2), (r, True))

    return expr.subs(x, sympy.Piecewise((-centred(-x), x < 0), (centred(x), True)))


def _quadratic_in(base: sympy.Expr, y: sympy.Symbol) -> bool:
    """``base`` is a*y**2 + c with a, c free of y and c != 0 (x**2 + alpha**2, ...)."""
    if not base.has(y) or not base.is_Add:
        return False
    try:
        poly = sympy.Poly(base, y)
    except sympy.PolynomialError:
        return False
    coefficients = poly.all_coeffs()
    return poly.degree() == 2 and coefficients[1] == 0 and coefficients[2] != 0


def large_argument_form(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr | None:
    """For |x| > 1, every power of a*x**2 + c written (x**2)**e * (a + c/x**2)**e, so that x**2
    never overflows and x/sqrt(x**2 + c) becomes 1/sqrt(1 + c/x**2); None if there is none.

    In float32 x**2 overflows for |x| > 1.8e19, and circ's x/(2*sqrt(x**2 + alpha**2)) is then
    x/inf = 0 (and inf/inf = NaN at x = inf) instead of 1/2. The branches x > 1 and x < -1 are
    rewritten with x = +-y, y > 0, where SymPy takes y out of the power and cancels it.
    """
    if not any(_quadratic_in(p.base, x) for p in expr.atoms(sympy.Pow)):
        return None
    y = sympy.Dummy("y", positive=True)

    def branch(sign: int) -> sympy.Expr:
        e = expr.subs(x, sign * y)
        e = e.replace(
            lambda p: isinstance(p, sympy.Pow) and _quadratic_in(p.base, y),
            lambda p: (y**2 * sympy.expand(p.base / y**2)) ** p.exp,
        )
        # y = max(+-x, 1): equal where the branch is taken, and finite (with a finite
        # derivative) where it is not, so that autodiff through a select never meets 1/0.
        return e.subs(y, sympy.Max(sign * x, 1))

    return sympy.Piecewise((branch(1), x > 1), (branch(-1), x < -1), (expr, True))


def zero_safe_products(model: SurrogateModel, expr: sympy.Expr) -> sympy.Expr | None:
    """Every product of x with a parameter that may be 0 written ``0 if p == 0 else p*x``; None
    if there is none.

    At x = +-inf, ``0*x`` is NaN in floating point, while the function (alpha*x with alpha = 0,
    log-tailed ReLU's default) is 0 everywhere: its limit is 0.
    """
    x = model.x
    maybe_zero = [p for p in model.params if not p.is_positive]

    def risky(e: sympy.Basic) -> bool:
        return isinstance(e, sympy.Mul) and x in e.args and any(p in e.args for p in maybe_zero)

    if (
        not maybe_zero
        or not expr.has(x)
        or not any(risky(e) for e in sympy.preorder_traversal(expr))
    ):
        return None

    def safe(e: sympy.Mul) -> sympy.Expr:
        zero = sympy.Or(*[sympy.Eq(p, 0) for p in maybe_zero if p in e.args])
        return sympy.Piecewise((0, zero), (e, True))

    return expr.replace(risky, safe)


def _unique(found: dict[str, sympy.Expr]) -> dict[str, sympy.Expr]:
    unique: dict[str, sympy.Expr] = {}
    for name, expr in found.items():
        if all(expr != seen for seen in unique.values()):
            unique[name] = expr
    return unique


def grad_candidates(model: SurrogateModel) -> dict[str, sympy.Expr]:
    """Forms of d(origin)/dx to choose the emitted one from; each is proven equal before use.

    Cheap, bounded rewrites only (no open-ended ``simplify`` on Piecewise trees): the raw
    derivative, its even fold, and ``together`` of both, which cancels ``a*|x| - a*|x|`` terms
    that would otherwise be ``inf - inf`` far from the threshold.
    """
    if model.grad_impl is not None:
        return {"grad_impl": model.grad_impl}
    x = model.x
    grad = model.expanded(model.grad)  # a finite Sum unrolled: every printer takes the result
    folded = fold_even(grad, x)
    # Hyperbolic functions as decaying exponentials: 1 - tanh(u)**2 cancels to 0 in float32 for
    # |u| > 9, while 4*exp(-2|u|)/(1 + exp(-2|u|))**2 (its folded, cancelled form) only underflows.
    as_exp = fold_even(_per_branch(grad, _decaying_exponentials), x)
    first = "raw derivative" if model.origin is not None else "declared grad"
    found = {
        first: grad,
        "even-folded": folded,
        "even-folded, together": _per_branch(folded, sympy.together),
        "together": _per_branch(grad, sympy.together),
        "decaying exponentials, even-folded": as_exp,
    }
    if (reduced := periodic_reduction(grad, x)) is not None:
        found["periodic reduction"] = reduced
    if (large := large_argument_form(grad, x)) is not None:
        found["large-argument form"] = large
    return _unique(found)


def origin_candidates(model: SurrogateModel) -> dict[str, sympy.Expr]:
    """Forms of the origin to emit: the spec's ``origin_impl`` if given, else the origin itself."""
    if model.origin_impl is not None:
        return {"origin_impl": model.origin_impl}
    assert model.origin is not None, "a gradient-only family has no origin to emit"
    origin = model.expanded(model.origin)
    found = {"origin": origin}
    if (reduced := periodic_reduction(origin, model.x)) is not None:
        found["periodic reduction"] = reduced
    if (large := large_argument_form(origin, model.x)) is not None:
        found["large-argument form"] = large
    if (safe := zero_safe_products(model, origin)) is not None:
        found["zero-safe products"] = safe
    return found


# --- floating-point score ----------------------------------------------------------------------


def _elementwise(fn: Callable[[float], float]) -> Callable[[np.ndarray], np.ndarray]:
    """A math-module function over an array, result in the array's dtype (NumPy has no erf)."""
    return lambda a: np.vectorize(fn, otypes=[np.asarray(a).dtype])(a)


_NUMPY_EXTRAS = {"erf": _elementwise(math.erf), "erfc": _elementwise(math.erfc)}


@dataclass(frozen=True)
class FloatScore:
    """How a form fares in floating point against the exact value."""

    nonfinite: int  # NaN/inf where the true value is finite (must be 0)
    wrong: int  # finite but off by more than FLOAT_CHECKS' tolerance (e.g. flushed to 0)
    max_rel_f32: float
    first_bad: str
    # Every Piecewise branch may be evaluated everywhere (branch-free select) without an
    # invalid-operation or divide-by-zero flag, which NumPy would report as a RuntimeWarning.
    branch_free: bool = True


def float_grid(model: SurrogateModel, dtype: np.dtype) -> np.ndarray:
    """The extreme grid plus a dense grid around the breakpoints, rounded to ``dtype``."""
    bps = [float(b) for b in numeric_breakpoints(model, param_sets(model)[0])]
    width = max([abs(b) for b in bps] + [1.0])
    dense = np.linspace(-10 * width, 10 * width, DENSE_POINTS)
    near = [b + s * d for b in bps for s in (-1, 1) for d in (1e-6 * width, 1e-3 * width)]
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(EXTREME_GRID), dense, np.array(near)]).astype(dtype)


def _reference(x: float, params: Sequence[mpmath.mpf], f: Evaluator) -> float | None:
    """f at a float input; at +-inf its limit."""
    if np.isfinite(x):
        value = f(mpmath.mpf(x), params)
        return None if value is None else float(value)
    return limit_value(lambda t: f(t, params), 1 if x > 0 else -1)


@functools.lru_cache(maxsize=64)
@at_dps
def _float_references(
    model: SurrogateModel, exact_expr: sympy.Expr
) -> dict[np.dtype, list[float | None]]:
    """The exact values on each dtype's float grid; computed once, shared by every candidate."""
    exact = Evaluator(model, exact_expr, dps=REFERENCE_DPS)
    params = param_sets(model)[0]
    return {
        dtype: [_reference(x, params, exact) for x in float_grid(model, dtype).tolist()]
        for dtype in FLOAT_CHECKS
    }


def _raises_flags(f: Callable[..., object], xs: np.ndarray, params: list[object]) -> bool:
    """lambdify's NumPy code evaluates every Piecewise branch at every x, as a select does."""
    try:
        with np.errstate(invalid="raise", divide="raise", over="ignore", under="ignore"):
            f(xs, *params)
    except (FloatingPointError, ZeroDivisionError):
        return True
    return False


@at_dps
def float_score(model: SurrogateModel, expr: sympy.Expr, exact_expr: sympy.Expr) -> FloatScore:
    """Score ``expr`` in float32/float64 against ``exact_expr``."""
    f = lambdify(model, expr, [_NUMPY_EXTRAS, "numpy"])
    references = _float_references(model, exact_expr)
    params = param_sets(model)[0]
    nonfinite = wrong = 0
    max_rel = 0.0
    first_bad, first_nonfinite = "", ""
    branch_free = True
    for dtype, tol in FLOAT_CHECKS.items():
        xs = float_grid(model, dtype)
        typed = [dtype.type(float(p)) for p in params]
        branch_free = branch_free and not _raises_flags(f, xs, typed)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.broadcast_to(np.asarray(f(xs, *typed)), xs.shape).astype(dtype)
        finfo = np.finfo(dtype)
        for x, y, ref in zip(xs.tolist(), got.tolist(), references[dtype], strict=True):
            if ref is None or abs(ref) > finfo.max:
                continue
            if not np.isfinite(y):
                nonfinite += 1
                first_nonfinite = first_nonfinite or (
                    f"{y} in {dtype} at x = {x!r} where the true value is {ref:.6g}"
                )
            elif abs(ref) >= finfo.tiny:
                rel = abs(y - ref) / abs(ref)
                if dtype == np.float32:
                    max_rel = max(max_rel, rel)
                if rel > tol:
                    wrong += 1
                    first_bad = first_bad or (
                        f"{y!r} in {dtype} at x = {x!r} where the true value is {ref:.6g}"
                    )
    return FloatScore(nonfinite, wrong, max_rel, first_nonfinite or first_bad, branch_free)


@at_dps
def choose(
    model: SurrogateModel, exact: sympy.Expr, candidates: dict[str, sympy.Expr], what: str
) -> tuple[str, sympy.Expr, FloatScore]:
    """The candidate proven equal to ``exact`` that behaves best in float32/float64.

    ``what`` is "grad" or "origin"; a spec's own ``<what>_impl`` must be equal, automatic rewrites
    that are not are skipped. Ties go to the cheaper expression, then to the earlier candidate.
    """
    path, impl = model.spec.path, f"{what}_impl"
    label = "origin" if what == "origin" else "d(origin)/dx" if model.origin is not None else "grad"
    scored = []
    for order, (name, expr) in enumerate(candidates.items()):
        found = worst_difference(model, expr, exact)
        if found is not None:
            if name == impl:
                (x, params), got, want = found
                raise CheckError(
                    f"{path}: {impl}: differs from {label} at {where(model, x, params)}:"
                    f" {impl} {fmt(got)}, {label} {fmt(want)}"
                )
            continue  # an automatic rewrite that is not valid for this surrogate
        score = float_score(model, expr, exact)
        accurate = score.max_rel_f32 <= ACCURATE_EPS * float(np.finfo(np.float32).eps)
        key = (
            score.nonfinite,
            score.wrong,
            not accurate,
            sympy.count_ops(expr),
            score.max_rel_f32,
            order,
        )
        scored.append((key, name, expr, score))
    _, name, expr, score = min(scored, key=lambda item: item[0])
    if score.nonfinite:
        field = impl if name == impl else "origin"
        raise CheckError(
            f"{path}: {field}: the emitted {what} ({name}) gives {score.first_bad};"
            f" add a numerically stable, equal '{impl}'"
        )
    return name, expr, score

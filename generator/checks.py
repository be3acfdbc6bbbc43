"""Stage 3: SurrogateModel -> CheckedModel. Everything that can be wrong with a spec fails here.

Identities are tried symbolically when that is cheap, and always evaluated at 40 significant digits
(mpmath) at deterministic sample points that include both sides of every breakpoint, for the
default parameters and for a perturbed set. ``sympy.limit`` raises on Piecewise at infinity, so
limits are evaluated far out instead. The emitted gradient is chosen among forms proven equal to
d(origin)/dx by evaluating each in float32 and float64 on an extreme grid.
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import mpmath
import numpy as np
import sympy

from .symbolic import SurrogateModel, grad_candidates, origin_candidates, pointwise_diff

DPS = 40  # working precision of every numeric identity check
EQUAL_RTOL = mpmath.mpf("1e-25")
EXTREME_GRID = (0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 10.0, -10.0, 1e4, -1e4, 1e30, -1e30)
EXTREME_GRID += (3e38, -3e38, float("inf"), -float("inf"))
FAR = mpmath.mpf("1e30")  # "infinity" for limits of the origin
# The dtypes whose emitted gradient must stay finite, with the relative error counted as "wrong".
FLOAT_CHECKS = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


class CheckError(ValueError):
    """A well-formed spec that is mathematically wrong: ``<path>: <field>: <what, where>``."""


@dataclass(frozen=True)
class BackwardVerdict:
    """How one documented backward formula compares with d(origin)/dx."""

    source: str
    expr: sympy.Expr
    expect: str
    note: str
    matches: bool
    how: str  # human-readable evidence, shown in the docs


@dataclass(frozen=True)
class CheckedModel:
    model: SurrogateModel
    emitted_grad: sympy.Expr  # the form the backends print
    emitted_form: str  # which candidate it is ("raw derivative", "even-folded", "grad_impl", ...)
    emitted_origin: sympy.Expr  # the origin as printed (the spec's origin, or its origin_impl)
    backward: tuple[BackwardVerdict, ...]
    properties: tuple[str, ...]
    breakpoints: tuple[float, ...]  # at the default parameters
    # Whether every Piecewise branch may be evaluated everywhere (branch-free select) without an
    # invalid-operation or divide-by-zero flag, which NumPy would report as a RuntimeWarning.
    grad_branch_free: bool = False
    origin_branch_free: bool = False
    # Derivatives of the emitted gradient by x and by each parameter (0 for integer ones): JAX's
    # grad carries them as its custom_jvp, so second derivatives never differentiate jnp.where.
    grad_partials: tuple[sympy.Expr, ...] = ()


Point = tuple[mpmath.mpf, tuple[mpmath.mpf, ...]]
F = TypeVar("F", bound=Callable[..., object])


def _at_dps(func: F) -> F:
    """Run ``func`` at DPS digits: mpf arithmetic outside (even ``-x``) rounds to 53 bits."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        with mpmath.workdps(DPS):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _Evaluator:
    """An expression as an mpmath function of (x, *params); None where undefined or not finite."""

    def __init__(self, model: SurrogateModel, expr: sympy.Expr, dps: int = DPS) -> None:
        self.f = sympy.lambdify((model.x, *model.params), expr, modules="mpmath")
        self.dps = dps

    def __call__(self, x: mpmath.mpf, params: Sequence[mpmath.mpf]) -> mpmath.mpf | None:
        with mpmath.workdps(self.dps):
            try:
                value = self.f(x, *params)
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                return None
            if isinstance(value, int | float):
                value = mpmath.mpf(value)
            if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
                return None
            return value


@_at_dps
def param_sets(model: SurrogateModel) -> list[tuple[mpmath.mpf, ...]]:
    """Defaults, and a perturbed set so that a formula right only at the defaults still fails."""
    perturbed = []
    for p in model.spec.params:
        if p.domain == "integer":
            perturbed.append(mpmath.mpf(p.default) + 1)
        else:
            perturbed.append(
                mpmath.mpf(p.default) * mpmath.mpf("1.37") if p.default else mpmath.mpf("0.37")
            )
    defaults = tuple(mpmath.mpf(p.default) for p in model.spec.params)
    return [defaults] if not perturbed else [defaults, tuple(perturbed)]


@_at_dps
def numeric_breakpoints(model: SurrogateModel, params: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
    values = []
    for bp in model.breakpoints:
        value = _Evaluator(model, bp)(mpmath.mpf(0), params)
        if value is not None:
            values.append(value)
    return sorted(set(values))


@_at_dps
def sample_points(model: SurrogateModel, params: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
    """Deterministic x: grids, log-spaced magnitudes, seeded random, both sides of breakpoints."""
    with mpmath.workdps(DPS):
        bps = numeric_breakpoints(model, params)
        width = max([abs(b) for b in bps] + [mpmath.mpf(1)])
        xs = [mpmath.mpf(k) / 10 for k in range(-80, 81)]
        xs += [width * mpmath.mpf(k) / 20 for k in range(-80, 81)]
        xs += [s * mpmath.mpf(10) ** (mpmath.mpf(k) / 2) for k in range(-12, 13) for s in (1, -1)]
        rng = random.Random(model.spec.name)  # same points every run
        xs += [width * mpmath.mpf(rng.uniform(-6, 6)) for _ in range(64)]
        for b in bps:
            for delta in (mpmath.mpf("1e-12") * max(1, abs(b)), width * mpmath.mpf("1e-3")):
                xs += [b - delta, b + delta]
        # Exactly at a breakpoint the derivative is one-sided by convention: compare beside it only.
        xs = [x for x in xs if all(abs(x - b) > mpmath.mpf("1e-30") for b in bps)]
    return sorted(set(xs))


def _fmt(value: mpmath.mpf | None) -> str:
    if value is None:
        return "undefined"
    return "0.0" if abs(value) < mpmath.mpf("1e-300") else mpmath.nstr(value, 8)


def _where(model: SurrogateModel, x: mpmath.mpf, params: Sequence[mpmath.mpf]) -> str:
    parts = [f"x = {mpmath.nstr(x, 8)}"]
    parts += [
        f"{p.name} = {mpmath.nstr(v, 6)}" for p, v in zip(model.spec.params, params, strict=True)
    ]
    return ", ".join(parts)


def _differ(a: mpmath.mpf | None, b: mpmath.mpf | None) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > EQUAL_RTOL * max(abs(a), abs(b), mpmath.mpf("1e-10"))


@functools.lru_cache(maxsize=256)
@_at_dps
def _values(
    model: SurrogateModel, expr: sympy.Expr
) -> tuple[tuple[tuple[mpmath.mpf, mpmath.mpf | None], ...], ...]:
    """``expr`` at every sample point, per parameter set; cached: each reference is used often."""
    f = _Evaluator(model, expr)
    return tuple(tuple((x, f(x, ps)) for x in sample_points(model, ps)) for ps in param_sets(model))


@_at_dps
def worst_difference(
    model: SurrogateModel, expr: sympy.Expr, reference: sympy.Expr
) -> tuple[Point, mpmath.mpf | None, mpmath.mpf | None] | None:
    """Where ``expr`` and ``reference`` differ most (absolutely), or None if equal at every sample.

    The defaults are scanned first; the perturbed parameters only if the defaults show no
    difference, so a report names the defaults whenever they already disagree.
    """
    for params, rows, refs in zip(
        param_sets(model), _values(model, expr), _values(model, reference), strict=True
    ):
        worst: tuple[mpmath.mpf, Point, mpmath.mpf | None, mpmath.mpf | None] | None = None
        for (x, a), (_, b) in zip(rows, refs, strict=True):
            if _differ(a, b):
                gap = mpmath.inf if a is None or b is None else abs(a - b)
                if worst is None or gap > worst[0]:
                    worst = (gap, (x, params), a, b)
        if worst is not None:
            return worst[1], worst[2], worst[3]
    return None


def _symbolically_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Cheap symbolic proof; bounded so that generation stays fast (no simplify on Piecewise)."""
    diff = a - b
    if diff == 0:
        return True
    if diff.has(sympy.Piecewise) or sympy.count_ops(diff) > 40:
        return False
    return sympy.simplify(diff) == 0


def _sample_count(model: SurrogateModel) -> int:
    return sum(len(sample_points(model, ps)) for ps in param_sets(model))


@_at_dps
def check_backward(model: SurrogateModel) -> tuple[BackwardVerdict, ...]:
    verdicts = []
    for i, (quoted, entry) in enumerate(zip(model.backward, model.spec.backward, strict=True)):
        field = f"{model.spec.path}: backward[{i}]"
        found = worst_difference(model, quoted, model.grad)
        if found is None:
            proof = "symbolically" if _symbolically_equal(quoted, model.grad) else ""
            how = proof or f"at {_sample_count(model)} sample points ({DPS} digits)"
            if entry.expect == "mismatch":
                raise CheckError(
                    f"{field}: marked 'expect: mismatch' but equals d(origin)/dx ({how});"
                    " remove 'expect'"
                )
            verdicts.append(
                BackwardVerdict(
                    entry.source, quoted, entry.expect, entry.note, True, f"equal {how}"
                )
            )
            continue
        (x, params), got, want = found
        how = (
            f"differs at {_where(model, x, params)}: quoted {_fmt(got)}, d(origin)/dx {_fmt(want)}"
        )
        if entry.expect != "mismatch":
            raise CheckError(f"{field}: {entry.source}: {how}")
        verdicts.append(BackwardVerdict(entry.source, quoted, entry.expect, entry.note, False, how))
    return tuple(verdicts)


@_at_dps
def check_origin(model: SurrogateModel) -> None:
    """Origin and gradient finite at every sample; origin continuous at every breakpoint."""
    origin, grad = _Evaluator(model, model.origin), _Evaluator(model, model.grad)
    path = model.spec.path
    for params in param_sets(model):
        for x in sample_points(model, params) + numeric_breakpoints(model, params):
            if origin(x, params) is None:
                raise CheckError(f"{path}: origin: not finite at {_where(model, x, params)}")
            if grad(x, params) is None:
                raise CheckError(
                    f"{path}: origin: d(origin)/dx is not finite at {_where(model, x, params)}"
                )
        for b in numeric_breakpoints(model, params):
            eps = mpmath.mpf("1e-20") * max(1, abs(b))
            left, right = origin(b - eps, params), origin(b + eps, params)
            if left is None or right is None or abs(left - right) > mpmath.mpf("1e-12"):
                raise CheckError(
                    f"{path}: origin: not continuous at {_where(model, b, params)}:"
                    f" {_fmt(left)} on the left, {_fmt(right)} on the right"
                )


@_at_dps
def check_properties(model: SurrogateModel) -> tuple[str, ...]:
    path = model.spec.path
    origin, grad = _Evaluator(model, model.origin), _Evaluator(model, model.grad)
    params = param_sets(model)[0]  # properties are claims about the defaults
    xs = sample_points(model, params) + [FAR, -FAR, mpmath.mpf("1e6"), -mpmath.mpf("1e6")]
    for prop in model.spec.properties:
        if prop == "normalized":
            low, high = origin(-FAR, params), origin(FAR, params)
            if low is None or high is None or abs(low) > 1e-9 or abs(high - 1) > 1e-9:
                raise CheckError(
                    f"{path}: properties: normalized does not hold: origin(-inf) = {_fmt(low)},"
                    f" origin(+inf) = {_fmt(high)} (evaluated at x = -+1e30), expected 0 and 1"
                )
        for x in xs:
            g = grad(x, params)
            if prop == "monotone" and g is not None and g < -EQUAL_RTOL:
                raise CheckError(
                    f"{path}: properties: monotone does not hold: d(origin)/dx = {_fmt(g)} < 0"
                    f" at {_where(model, x, params)}"
                )
            if prop == "even_grad" and _differ(g, grad(-x, params)):
                raise CheckError(
                    f"{path}: properties: even_grad does not hold: d(origin)/dx = {_fmt(g)} at"
                    f" {_where(model, x, params)} but {_fmt(grad(-x, params))} at -x"
                )
    return model.spec.properties


def _elementwise(fn: Callable[[float], float]) -> Callable[[np.ndarray], np.ndarray]:
    """A math-module function over an array, result in the array's dtype (NumPy has no erf)."""
    return lambda a: np.vectorize(fn, otypes=[np.asarray(a).dtype])(a)


_NUMPY_EXTRAS = {"erf": _elementwise(math.erf), "erfc": _elementwise(math.erfc)}


@dataclass(frozen=True)
class FloatScore:
    """How a form of the gradient fares in floating point against the 40-digit value."""

    nonfinite: int  # NaN/inf where the true value is finite (must be 0)
    wrong: int  # finite but off by more than FLOAT_CHECKS' tolerance (e.g. flushed to 0)
    max_rel_f32: float
    first_bad: str
    branch_free: bool = True  # all branches everywhere raise no invalid/divide-by-zero flag


def float_grid(model: SurrogateModel, dtype: np.dtype) -> np.ndarray:
    """The extreme grid plus a dense grid around the breakpoints, rounded to ``dtype``."""
    bps = [float(b) for b in numeric_breakpoints(model, param_sets(model)[0])]
    width = max([abs(b) for b in bps] + [1.0])
    dense = np.linspace(-10 * width, 10 * width, 801)
    near = [b + s * d for b in bps for s in (-1, 1) for d in (1e-6 * width, 1e-3 * width)]
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(EXTREME_GRID), dense, np.array(near)]).astype(dtype)


def _reference(
    model: SurrogateModel, x: float, params: Sequence[mpmath.mpf], f: _Evaluator
) -> float | None:
    """f at a float input; at +-inf its limit: f(+-1e150) if settled, else 0 (decaying) or +-inf."""
    if np.isfinite(x):
        value = f(mpmath.mpf(x), params)
        return None if value is None else float(value)
    sign = 1 if x > 0 else -1
    near, far = f(sign * mpmath.mpf("1e100"), params), f(sign * mpmath.mpf("1e150"), params)
    if near is None or far is None:
        return None
    if abs(near) < mpmath.mpf("1e-320") and abs(far) < mpmath.mpf("1e-320"):
        return 0.0
    if abs(far - near) <= mpmath.mpf("1e-20") * abs(far):
        return float(far)
    if abs(far) < abs(near):
        return 0.0
    return float("inf") if far > 0 else float("-inf")


@functools.lru_cache(maxsize=64)
@_at_dps
def _float_references(
    model: SurrogateModel, exact_expr: sympy.Expr
) -> dict[np.dtype, list[float | None]]:
    """The exact values on each dtype's float grid; computed once, shared by every candidate.

    Raw derivatives can cancel badly far out (superspike: two ~1/|x| terms), so these get enough
    digits to stay exact out to |x| = 3e38.
    """
    exact = _Evaluator(model, exact_expr, dps=100)
    params = param_sets(model)[0]
    return {
        dtype: [_reference(model, x, params, exact) for x in float_grid(model, dtype).tolist()]
        for dtype in FLOAT_CHECKS
    }


@_at_dps
def float_score(
    model: SurrogateModel, expr: sympy.Expr, exact_expr: sympy.Expr | None = None
) -> FloatScore:
    """Score ``expr`` in float32/float64 against ``exact_expr`` (default: d(origin)/dx)."""
    f = sympy.lambdify((model.x, *model.params), expr, modules=[_NUMPY_EXTRAS, "numpy"])
    references = _float_references(model, model.grad if exact_expr is None else exact_expr)
    params = param_sets(model)[0]
    nonfinite = wrong = 0
    max_rel = 0.0
    first_bad = ""
    branch_free = True
    for dtype, tol in FLOAT_CHECKS.items():
        xs = float_grid(model, dtype)
        # lambdify's NumPy code evaluates every Piecewise branch at every x, as a select does.
        try:
            with np.errstate(invalid="raise", divide="raise", over="ignore", under="ignore"):
                f(xs, *[dtype.type(float(p)) for p in params])
        except (FloatingPointError, ZeroDivisionError):
            branch_free = False
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.broadcast_to(
                np.asarray(f(xs, *[dtype.type(float(p)) for p in params])), xs.shape
            )
            got = got.astype(dtype)
        finfo = np.finfo(dtype)
        for x, y, ref in zip(xs.tolist(), got.tolist(), references[dtype], strict=True):
            if ref is None or abs(ref) > finfo.max:
                continue
            bad = ""
            if not np.isfinite(y):
                nonfinite += 1
                bad = f"{y} in {dtype} at x = {x!r} where the true value is {ref:.6g}"
            elif abs(ref) >= finfo.tiny:
                rel = abs(y - ref) / abs(ref)
                if dtype == np.float32:
                    max_rel = max(max_rel, rel)
                if rel > tol:
                    wrong += 1
                    bad = f"{y!r} in {dtype} at x = {x!r} where the true value is {ref:.6g}"
            if bad and (
                not first_bad
                or (not np.isfinite(y) and "nan" not in first_bad and "inf" not in first_bad)
            ):
                first_bad = bad
    return FloatScore(nonfinite, wrong, max_rel, first_bad, branch_free)


@_at_dps
def choose_emitted(
    model: SurrogateModel, exact: sympy.Expr, candidates: dict[str, sympy.Expr], what: str
) -> tuple[str, sympy.Expr, FloatScore]:
    """The candidate proven equal to ``exact`` that behaves best in float32/float64.

    ``what`` is "grad" or "origin"; a spec's own ``<what>_impl`` must be equal, automatic rewrites
    that are not are skipped. Ties go to the cheaper expression, then to the earlier candidate.
    """
    path, impl = model.spec.path, f"{what}_impl"
    label = "d(origin)/dx" if what == "grad" else "origin"
    scored = []
    for order, (name, expr) in enumerate(candidates.items()):
        found = worst_difference(model, expr, exact)
        if found is not None:
            if name == impl:
                (x, params), got, want = found
                raise CheckError(
                    f"{path}: {impl}: differs from {label} at {_where(model, x, params)}:"
                    f" {impl} {_fmt(got)}, {label} {_fmt(want)}"
                )
            continue  # an automatic rewrite that is not valid for this surrogate
        score = float_score(model, expr, exact)
        accurate = score.max_rel_f32 <= 8 * float(np.finfo(np.float32).eps)
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


@_at_dps
def run_checks(model: SurrogateModel) -> CheckedModel:
    """All checks in the order a spec author fixes them; raises CheckError on the first failure."""
    check_origin(model)
    backward = check_backward(model)
    properties = check_properties(model)
    form, emitted, grad_score = choose_emitted(model, model.grad, grad_candidates(model), "grad")
    _, emitted_origin, origin_score = choose_emitted(
        model, model.origin, origin_candidates(model), "origin"
    )
    bps = tuple(float(b) for b in numeric_breakpoints(model, param_sets(model)[0]))
    return CheckedModel(
        model=model,
        emitted_grad=emitted,
        emitted_form=form,
        emitted_origin=emitted_origin,
        grad_branch_free=grad_score.branch_free,
        origin_branch_free=origin_score.branch_free,
        grad_partials=tuple(
            sympy.S.Zero if p is not None and p.domain == "integer" else pointwise_diff(emitted, v)
            for p, v in zip((None, *model.spec.params), (model.x, *model.params), strict=True)
        ),
        backward=backward,
        properties=properties,
        breakpoints=bps,
    )

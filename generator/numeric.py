"""High-precision evaluation shared by the checks, the choice of emitted forms and the plots.

Every expression is evaluated with mpmath at ``DPS`` significant digits at deterministic points:
grids, log-spaced magnitudes, seeded random points and both sides of every breakpoint, for the
default parameters and for a perturbed set. ``sympy.limit`` raises on Piecewise at infinity, so
limits are evaluated far out instead. Every tolerance is a named constant with its reason.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import mpmath
import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter as NumPyPrinterBase
from sympy.printing.pycode import MpmathPrinter as MpmathPrinterBase

from .printers import ExpShift, ShiftedExp
from .spec import Param
from .symbolic import SurrogateModel

DPS = 40  # working precision of every identity check
# Two forms are "equal" when they agree to 25 of the 40 digits: 15 digits of headroom for
# cancellation inside one evaluation, while a formula wrong by 1e-20 relative still fails.
EQUAL_RTOL = mpmath.mpf("1e-25")
# Values below this are "zero" when reporting and comparing (beneath float64's smallest subnormal).
NEGLIGIBLE = mpmath.mpf("1e-300")
# The perturbed parameter set: a formula right only at the defaults must still fail somewhere.
PERTURB_FACTOR = mpmath.mpf("1.37")
PERTURB_FROM_ZERO = mpmath.mpf("0.37")
# Sample points: x/10 on [-8, 8], width/20 on [-8w, 8w], 10**(k/2) for |k| <= 12, 64 random.
GRID_STEPS = 80
LOG_DECADES = 12
RANDOM_POINTS = 64
RANDOM_SPAN = 6
# Beside a breakpoint b: b -+ 1e-12*max(1, |b|) (the one-sided limit) and b -+ 1e-3*width.
BESIDE_BREAKPOINT = mpmath.mpf("1e-12")
NEAR_BREAKPOINT = mpmath.mpf("1e-3")
# Exactly at a breakpoint the derivative is one-sided by convention: points closer are dropped.
AT_BREAKPOINT = mpmath.mpf("1e-30")
# Continuity of the origin: the two sides 1e-20 apart must agree to 1e-12 (a jump is O(1)).
CONTINUITY_STEP = mpmath.mpf("1e-20")
CONTINUITY_TOL = mpmath.mpf("1e-12")
# Higher derivatives and parameter derivatives are proven equal at every PROOF_STRIDE-th sample
# point (and both sides of every breakpoint): about 350 points at 40 digits instead of 1400.
PROOF_STRIDE = 4
FAR = mpmath.mpf("1e30")  # "infinity" for the limits of the origin (property `normalized`)
NORMALIZED_TOL = 1e-9
# Limits at +-inf of a float input: f(+-1e100) and f(+-1e150), settled if they agree to 1e-20.
LIMIT_NEAR = mpmath.mpf("1e100")
LIMIT_FAR = mpmath.mpf("1e150")
# A periodic f has no limit: it is probed at sqrt(2) * 10**e (off any simple period, and small
# enough that 40 digits resolve its phase); values that spread by more than this and go up and
# down mean no limit.
OSCILLATION_EXPONENTS = (20, 22, 24, 26, 28, 30, 32)
OSCILLATION_SPREAD = mpmath.mpf("1e-6")
LIMIT_SETTLED = mpmath.mpf("1e-20")
LIMIT_ZERO = mpmath.mpf("1e-320")  # both far values below float64's range: the limit is 0
# Raw derivatives can cancel badly far out (two ~1/|x| terms); 100 digits stay exact to 3e38.
REFERENCE_DPS = 100
# References below this magnitude are recomputed at 2x, 4x, ... the digits (up to the maximum)
# until two agree to ADAPTIVE_AGREE: a value that small may be what is left of a cancellation.
ADAPTIVE_BELOW = mpmath.mpf("1e-30")
ADAPTIVE_MAX_DPS = 1600
ADAPTIVE_AGREE = mpmath.mpf("1e-20")

Point = tuple[mpmath.mpf, tuple[mpmath.mpf, ...]]
F = TypeVar("F", bound=Callable[..., object])


def at_dps(func: F) -> F:
    """Run ``func`` at DPS digits: mpf arithmetic outside (even ``-x``) rounds to 53 bits."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        with mpmath.workdps(DPS):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _ModMixin:
    """``Mod(a, b)`` as ``(a % b)``: SymPy's Python printers give Mod the precedence of ``*``, so
    ``2*Mod(x, p)`` prints as ``2*x % p``, which Python reads as ``(2*x) % p``."""

    def _print_Mod(self, expr: sympy.Mod) -> str:
        a, b = (self._print(arg) for arg in expr.args)  # type: ignore[attr-defined]
        return f"(({a}) % ({b}))"


class MpmathPrinter(_ModMixin, MpmathPrinterBase):
    pass


class NumPyPrinter(_ModMixin, NumPyPrinterBase):
    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        """Powers other than squares, square roots and reciprocals as ``power(a, b)`` (the
        namespace's machine-independent one, ``_NUMPY_EXTRAS``)."""
        if expr.exp in (2, -1, sympy.S.Half, -sympy.S.Half):
            return str(super()._print_Pow(expr, rational))
        return f"power({self._print(expr.base)}, {self._print(expr.exp)})"


# What lambdify gives its own printer: names unqualified (the namespace holds them).
_LAMBDIFY_SETTINGS = {
    "fully_qualified_modules": False,
    "inline": True,
    "allow_unknown_functions": True,
}


def _elementwise(fn: Callable[[float], float]) -> Callable[[np.ndarray], np.ndarray]:
    """A math-module function over an array, result in the array's dtype (NumPy has no erf)."""
    return lambda a: np.vectorize(fn, otypes=[np.asarray(a).dtype])(a)


def _rounded(fn: np.ufunc) -> Callable[..., np.ndarray]:
    """``fn`` computed in ``np.longdouble`` for float16/32/64 arguments, rounded once to their
    dtype.

    NumPy's float32 and float64 transcendental functions differ between machines (SIMD versions
    for AVX-512, with their own errors, on machines that have it; others elsewhere), and the
    float scores choose the emitted forms and fill the docs' tables: the generated files
    depended on the machine that ran the generator (a float64 power on an AVX2 machine moved a
    count in circ's table). NumPy's long double loops call the C library's scalar functions,
    the same code on every x86-64 machine, and round to float32 and float64 almost always
    correctly (x87's 64-bit significand). Where long double is double (Windows, macOS on ARM)
    this is NumPy's float64 function, as before."""

    def call(*args: Any) -> np.ndarray:
        arrays = [np.asarray(a) for a in args]
        dtype = np.result_type(*args)
        if dtype.kind == "f" and dtype.itemsize <= 8:
            return np.asarray(fn(*(a.astype(np.longdouble) for a in arrays))).astype(dtype)
        return np.asarray(fn(*args))

    return call


_TRANSCENDENTAL = [
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "arctan2",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "cbrt",
    "power",
]
_NUMPY_EXTRAS = {
    "erf": _elementwise(math.erf),
    "erfc": _elementwise(math.erfc),
    **{name: _rounded(getattr(np, name)) for name in _TRANSCENDENTAL},
}


def lambdify(
    model: SurrogateModel,
    expr: sympy.Expr,
    modules: Literal["mpmath", "numpy"],
    cse: bool = True,
    args: Sequence[sympy.Symbol] | None = None,
) -> Callable[..., object]:
    """``expr`` as a function of (x, *params), or of (x, *args) where ``args`` are not the model's
    parameters (a library preset's). The symbols are renamed ``_a0, _a1, ...`` first so that no
    parameter name (``exp``, ``select``, ``beta``) can shadow a function of the numeric module
    (what ``dummify=True`` does, at a fraction of its cost on large trees). ``cse``: common
    subexpressions computed once (fewer operations, and large derivatives stay shallow enough
    for Python's compiler). ``Mod`` is printed with its parentheses (``_ModMixin``)."""
    symbols = (model.x, *(model.params if args is None else args))
    return _lambdified(symbols, expr, modules, cse)


@functools.lru_cache(maxsize=4096)
def _lambdified(
    symbols: tuple[sympy.Symbol, ...], expr: sympy.Expr, numeric: str, cse: bool
) -> Callable[..., object]:
    """lambdify, once per expression: the checks of a spec ask for the same candidate forms many
    times (scores, finiteness, proofs), and printing a large tree costs more than evaluating it."""
    safe = [sympy.Symbol(f"_a{i}", **s.assumptions0) for i, s in enumerate(symbols)]
    renamed = expr.xreplace(dict(zip(symbols, safe, strict=True)))
    if renamed.has(ShiftedExp, ExpShift):  # the flush-safe exponentials, by their definition
        renamed = renamed.replace(lambda e: isinstance(e, ShiftedExp | ExpShift), _as_exp)
    printer = MpmathPrinter if numeric == "mpmath" else NumPyPrinter
    modules = "mpmath" if numeric == "mpmath" else [_NUMPY_EXTRAS, "numpy"]
    return sympy.lambdify(
        safe, renamed, modules=modules, cse=cse, printer=printer(_LAMBDIFY_SETTINGS)
    )


def _as_exp(e: ShiftedExp | ExpShift) -> sympy.Expr:
    return e.as_exp()


class Evaluator:
    """An expression as an mpmath function of (x, *params); None where undefined or not finite.

    ``args`` are the parameter symbols when they are not the model's (a library preset's).
    Integer parameters are passed as Python ints: a Sum's bound is a ``range`` argument.

    No common-subexpression elimination here: it would hoist a Piecewise branch's terms out of
    its condition (a**2/x**2 evaluated at x = 0 where another branch applies). With ``adaptive``
    (the references), a value below ADAPTIVE_BELOW is recomputed at twice the digits until two
    agree: SymPy writes erfc(-z) as 2 - erfc(z), and 1 - erfc(15)/2 keeps no digit of its
    1e-102 at 100 digits.
    """

    def __init__(
        self,
        model: SurrogateModel,
        expr: sympy.Expr,
        dps: int = DPS,
        adaptive: bool = False,
        args: Sequence[sympy.Symbol] | None = None,
    ) -> None:
        symbols = tuple(model.params if args is None else args)
        self.f = lambdify(model, expr, "mpmath", cse=False, args=symbols)
        self.integer = tuple(bool(s.is_integer) for s in symbols)
        self.dps, self.adaptive = dps, adaptive

    def _at(self, dps: int, x: mpmath.mpf, params: Sequence[mpmath.mpf]) -> mpmath.mpf | None:
        with mpmath.workdps(dps):
            try:
                pairs = zip(params, self.integer, strict=True)
                values = [int(p) if integer else p for p, integer in pairs]
                value = self.f(x, *values)
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                return None
            if isinstance(value, int | float):
                value = mpmath.mpf(value)
            if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
                return None
            return value

    def __call__(self, x: mpmath.mpf, params: Sequence[mpmath.mpf]) -> mpmath.mpf | None:
        value, dps = self._at(self.dps, x, params), self.dps
        while self.adaptive and value is not None and abs(value) < ADAPTIVE_BELOW:
            if dps >= ADAPTIVE_MAX_DPS:
                return value
            dps *= 2
            finer = self._at(dps, x, params)
            if finer is None or abs(finer - value) <= ADAPTIVE_AGREE * abs(finer):
                return finer
            value = finer
        return value


@at_dps
def param_sets(model: SurrogateModel) -> list[tuple[mpmath.mpf, ...]]:
    """Defaults, and a perturbed set so that a formula right only at the defaults still fails."""
    perturbed = tuple(perturb(p) for p in model.spec.params)
    defaults = tuple(mpmath.mpf(p.default) for p in model.spec.params)
    return [defaults] if not perturbed else [defaults, perturbed]


def inside(p: Param, value: mpmath.mpf) -> bool:
    """Whether ``value`` satisfies the parameter's domain and bounds."""
    checks = [
        p.domain != "integer" or value == mpmath.floor(value),
        p.domain != "positive" or value > 0,
        p.domain != "nonnegative" or value >= 0,
        p.min is None or value >= p.min,
        p.max is None or value <= p.max,
        p.above is None or value > p.above,
        p.below is None or value < p.below,
    ]
    return all(checks)


def perturb(p: Param) -> mpmath.mpf:
    """The default moved (x1.37, or +1 for integers) and kept inside the parameter's bounds."""
    default = mpmath.mpf(p.default)
    if p.domain == "integer":
        candidates = [default + 1, default - 1]
    elif p.default:
        candidates = [default * PERTURB_FACTOR, default / PERTURB_FACTOR]
    else:
        candidates = [PERTURB_FROM_ZERO, -PERTURB_FROM_ZERO]
    for value in candidates:
        if inside(p, value):
            return value
    return default


@functools.lru_cache(maxsize=256)
@at_dps
def _breakpoints(model: SurrogateModel, params: tuple[mpmath.mpf, ...]) -> tuple[mpmath.mpf, ...]:
    values = []
    for bp in model.breakpoints:
        value = Evaluator(model, bp)(mpmath.mpf(0), params)
        if value is not None:
            values.append(value)
    return tuple(sorted(set(values)))


def numeric_breakpoints(model: SurrogateModel, params: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
    """The breakpoints at these parameters, sorted (cached: each costs a lambdify)."""
    return list(_breakpoints(model, tuple(params)))


def sample_points(model: SurrogateModel, params: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
    """Deterministic x: grids, log-spaced magnitudes, seeded random, both sides of breakpoints."""
    return list(_sample_points(model, tuple(params)))


@functools.lru_cache(maxsize=256)
@at_dps
def _sample_points(model: SurrogateModel, params: tuple[mpmath.mpf, ...]) -> tuple[mpmath.mpf, ...]:
    bps = numeric_breakpoints(model, params)
    width = max([abs(b) for b in bps] + [mpmath.mpf(1)])
    steps = range(-GRID_STEPS, GRID_STEPS + 1)
    xs = [mpmath.mpf(k) / 10 for k in steps]
    xs += [width * mpmath.mpf(k) / 20 for k in steps]
    decades = range(-LOG_DECADES, LOG_DECADES + 1)
    xs += [s * mpmath.mpf(10) ** (mpmath.mpf(k) / 2) for k in decades for s in (1, -1)]
    rng = random.Random(model.spec.name)  # same points every run
    xs += [width * mpmath.mpf(rng.uniform(-RANDOM_SPAN, RANDOM_SPAN)) for _ in range(RANDOM_POINTS)]
    for b in bps:
        for delta in (BESIDE_BREAKPOINT * max(1, abs(b)), width * NEAR_BREAKPOINT):
            xs += [b - delta, b + delta]
    xs = [x for x in xs if all(abs(x - b) > AT_BREAKPOINT for b in bps)]
    return tuple(sorted(set(xs)))


def fmt(value: mpmath.mpf | None) -> str:
    """A value for a message: 8 digits, "0.0" below NEGLIGIBLE, "undefined" for None."""
    if value is None:
        return "undefined"
    return "0.0" if abs(value) < NEGLIGIBLE else mpmath.nstr(value, 8)


def where(model: SurrogateModel, x: mpmath.mpf, params: Sequence[mpmath.mpf]) -> str:
    """``x = ..., alpha = ...`` for a message."""
    parts = [f"x = {mpmath.nstr(x, 8)}"]
    parts += [
        f"{p.name} = {mpmath.nstr(v, 6)}" for p, v in zip(model.spec.params, params, strict=True)
    ]
    return ", ".join(parts)


def differ(a: mpmath.mpf | None, b: mpmath.mpf | None) -> bool:
    """Relative difference above EQUAL_RTOL (absolute below 1e-10), or exactly one undefined."""
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > EQUAL_RTOL * max(abs(a), abs(b), mpmath.mpf("1e-10"))


@functools.lru_cache(maxsize=256)
@at_dps
def values(
    model: SurrogateModel, expr: sympy.Expr, stride: int = 1, adaptive: bool = False
) -> tuple[tuple[tuple[mpmath.mpf, mpmath.mpf | None], ...], ...]:
    """``expr`` at every sample point (every ``stride``-th, and always both sides of every
    breakpoint), per parameter set; cached: each reference is used often. ``adaptive``: tiny
    values recomputed at more digits (``Evaluator``)."""
    f = Evaluator(model, expr, adaptive=adaptive)
    rows = []
    for ps in param_sets(model):
        xs = sample_points(model, ps)
        if stride > 1:
            bps = numeric_breakpoints(model, ps)
            width = max([abs(b) for b in bps] + [mpmath.mpf(1)])
            near = {x for x in xs for b in bps if abs(x - b) <= 2 * NEAR_BREAKPOINT * width}
            xs = sorted(set(xs[::stride]) | near)
        rows.append(tuple((x, f(x, ps)) for x in xs))
    return tuple(rows)


@at_dps
def worst_difference(
    model: SurrogateModel,
    expr: sympy.Expr,
    reference: sympy.Expr,
    stride: int = 1,
    adaptive: bool = False,
) -> tuple[Point, mpmath.mpf | None, mpmath.mpf | None] | None:
    """Where ``expr`` and ``reference`` differ most (absolutely), or None if equal at every sample
    (every ``stride``-th sample, see ``values``). ``adaptive``: both evaluated with tiny values
    recomputed at more digits, where a value of 0 is what is left of a cancellation (sin(c*x)
    at a multiple of its period far from 0 keeps 1e-35 of noise at 40 digits).

    The defaults are scanned first; the perturbed parameters only if the defaults show no
    difference, so a report names the defaults whenever they already disagree.
    """
    for params, rows, refs in zip(
        param_sets(model),
        values(model, expr, stride, adaptive),
        values(model, reference, stride, adaptive),
        strict=True,
    ):
        worst: tuple[mpmath.mpf, Point, mpmath.mpf | None, mpmath.mpf | None] | None = None
        for (x, a), (_, b) in zip(rows, refs, strict=True):
            if differ(a, b):
                gap = mpmath.inf if a is None or b is None else abs(a - b)
                if worst is None or gap > worst[0]:
                    worst = (gap, (x, params), a, b)
        if worst is not None:
            return worst[1], worst[2], worst[3]
    return None


def sample_count(model: SurrogateModel) -> int:
    return sum(len(sample_points(model, ps)) for ps in param_sets(model))


def limit_value(f: Callable[[mpmath.mpf], mpmath.mpf | None], sign: int) -> float | None:
    """The limit of f at sign*inf: f(+-1e150) if settled, else 0 (decaying) or +-inf (growing);
    None where f is undefined there or has no limit (it oscillates, as a periodic one does)."""
    probes = [f(sign * mpmath.sqrt(2) * mpmath.mpf(10) ** e) for e in OSCILLATION_EXPONENTS]
    near, far = f(sign * LIMIT_NEAR), f(sign * LIMIT_FAR)
    if near is None or far is None or any(v is None for v in probes):
        return None
    if _oscillates([v for v in probes if v is not None]):
        return None
    if abs(near) < LIMIT_ZERO and abs(far) < LIMIT_ZERO:
        return 0.0
    if abs(far - near) <= LIMIT_SETTLED * abs(far):
        return float(far)
    if abs(far) < abs(near):
        return 0.0
    return float("inf") if far > 0 else float("-inf")


def _oscillates(values: Sequence[mpmath.mpf]) -> bool:
    """Far values that spread by more than OSCILLATION_SPREAD and go up and down."""
    spread = max(values) - min(values)
    if spread <= OSCILLATION_SPREAD * max(1, *map(abs, values)):
        return False
    steps = [b - a for a, b in itertools.pairwise(values)]
    return not (all(s >= 0 for s in steps) or all(s <= 0 for s in steps))

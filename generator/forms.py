"""The choice of the emitted forms: candidate rewrites of the gradient and the origin, each proven
equal to the exact expression and scored in float32 and float64 on an extreme grid.

The score counts NaN/inf where the true value is finite, values off by more than a tolerance
(e.g. flushed to 0), and the worst float32 relative error; the cheapest accurate form wins.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy
from sympy.codegen.cfunctions import log1p

from .numeric import (
    PROOF_STRIDE,
    REFERENCE_DPS,
    Evaluator,
    at_dps,
    differ,
    fmt,
    lambdify,
    limit_value,
    numeric_breakpoints,
    param_sets,
    sample_points,
    where,
    worst_difference,
)
from .printers import ExpShift, ShiftedExp
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
# A log scan of both tails, |x| from w to 10**TAIL_DECADES * w: where a result decays through the
# smallest normal number (and an intermediate may be flushed before it).
TAIL_DECADES, TAIL_POINTS = 4, 240
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
        # cancel, not simplify: the arguments are products and quotients (a Fourier series'
        # k*pi*x/T), and simplify's trigonometric passes cost seconds on a 16-term series.
        coefficient = sympy.cancel(atom.args[0] / x)
        if coefficient.has(x):
            return None
        coefficients.append(coefficient)
    if hidden.has(x):
        return None  # x also appears outside the trigonometric functions: not periodic
    ratios = [sympy.nsimplify(sympy.cancel(c / coefficients[0])) for c in coefficients]
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


def _sign_condition(u: sympy.Expr, x: sympy.Symbol) -> sympy.Basic:
    """``u > 0`` as a condition on x where u = k*x + m with k of known sign (else as is)."""
    k = sympy.diff(u, x)
    if not k.has(x):
        m = sympy.expand(u - k * x)
        if k.is_positive:
            return sympy.Gt(x, -m / k)
        if k.is_negative:
            return sympy.Lt(x, -m / k)
    return sympy.Gt(u, 0)


def _exp_split_one(e: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """A rational function of exp(k_i*u) as two forms whose exponentials never exceed 1.

    Every exponential in x must be exp(r_i*u) with rational r_i for one u (sigmoid and its
    derivatives: exp(-alpha*x), exp(-2*alpha*x), ...). With E = exp(u), e = R(E); where u <= 0
    the cancelled R(E) is emitted, where u > 0 the cancelled R(1/F) with F = exp(-u) <= 1. Neither
    overflows (no inf/inf), and each only underflows where the value itself is tiny.
    """
    atoms = sorted((a for a in e.atoms(sympy.exp) if a.has(x)), key=sympy.default_sort_key)
    if not atoms:
        return e
    args = [a.args[0] for a in atoms]
    if all(a.is_nonpositive for a in args):
        return e  # exp(-x**2) and the like never overflow
    ratios = [sympy.cancel(a / args[0]) for a in args]
    if not all(r.is_Rational and r != 0 for r in ratios):
        return e
    d = functools.reduce(sympy.ilcm, [sympy.Rational(r).q for r in ratios], 1)
    u = args[0] / d
    E, F = sympy.Dummy("E", positive=True), sympy.Dummy("F", positive=True)
    rational = e.xreplace({a: E ** (r * d) for a, r in zip(atoms, ratios, strict=True)})
    if rational.has(sympy.exp) and any(a.has(x) for a in rational.atoms(sympy.exp)):
        return e
    opaque, back = _opaque(rational, (x, E))
    low = sympy.factor(sympy.cancel(opaque)).xreplace(back | {E: sympy.exp(u)})
    high = sympy.factor(sympy.cancel(opaque.xreplace({E: 1 / F})))
    high = high.xreplace(back | {F: sympy.exp(-u)})
    return sympy.Piecewise((high, _sign_condition(u, x)), (low, True))


def _opaque(
    e: sympy.Expr, keep: tuple[sympy.Symbol, ...]
) -> tuple[sympy.Expr, dict[sympy.Expr, sympy.Expr]]:
    """e with every maximal subexpression free of ``keep`` (a parameter combination such as
    alpha**2 or a sum of parameters) replaced by a symbol, and the map back.

    Polynomial algebra (cancel, factor) in E and x alone then stays cheap however many
    parameters there are: factoring over eight parameter symbols took minutes."""
    table: dict[sympy.Expr, sympy.Expr] = {}

    def go(node: sympy.Expr) -> sympy.Expr:
        if not node.has(*keep):
            if node.is_Number:
                return node
            if node not in table:
                table[node] = sympy.Dummy(
                    "c", positive=True if node.is_positive else None, real=True
                )
            return table[node]
        if not node.args:
            return node
        return node.func(*(go(a) for a in node.args))

    out = go(e)
    return out, {v: k for k, v in table.items()}


def exp_split(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """Each branch with growing exponentials split where their exponent changes sign."""
    hyperbolic = expr.rewrite(sympy.exp) if expr.has(sympy.tanh, sympy.cosh) else expr
    return sympy.piecewise_fold(_per_branch(hyperbolic, lambda e: _exp_split_one(e, x)))


def large_split(expr: sympy.Expr, x: sympy.Symbol, crossover: sympy.Expr) -> sympy.Expr:
    """Beyond ``|x| > crossover`` the expression in t = 1/|x| (divided by its dominant power).

    x/(1 + b*|x|) is inf/inf at x = +-inf and b*|x| overflows near the top of the float range;
    in t it is 1/(b + t) for x > 0, finite up to and at x = inf (t = 0).
    """
    t = sympy.Dummy("t", positive=True)

    def side(sign: int) -> sympy.Expr:
        far = sympy.piecewise_fold(expr.subs(x, sign / t))
        # t = 1/|x| with |x| clamped to the crossover: equal where this branch is selected, and
        # finite where it is not (a branch-free select, or a common subexpression hoisted out
        # of its branch, computes it at x = 0 too: no division by zero, no flag, no NaN in a
        # derivative of the unselected side).
        clamped = sympy.Max(x, crossover) if sign > 0 else -sympy.Min(x, -crossover)
        return _per_branch(far, lambda e: sympy.together(_split_powers(e))).xreplace(
            {t: 1 / clamped}
        )

    return sympy.piecewise_fold(
        sympy.Piecewise(
            (side(1), sympy.Gt(x, crossover)), (side(-1), sympy.Lt(x, -crossover)), (expr, True)
        )
    )


# Beyond the x where every exponent is below -UNDERFLOW_EXPONENT, the value is below float64's
# smallest subnormal (exp(-1000) = 5e-435, with room for a polynomial factor): exactly 0.
UNDERFLOW_EXPONENT = 1000
# Expanding a product into terms (each with its own cutoff) only below this size: the terms of a
# large derivative number in the hundreds.
EXPAND_MAX_OPS = 200


def _cutoff_one(e: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """0 where every exponential of the term e has an exponent below -UNDERFLOW_EXPONENT.

    x**3*exp(-x**2) is inf*0 = NaN once x**2 overflows, and x*exp(a*x) at x = -inf; where every
    exponent is below -1000 the value is below every float's range (the proof checks it at every
    sample point), so 0 is its correctly rounded value there.
    """
    args = [a.args[0] for a in e.atoms(sympy.exp) if a.has(x)]
    if not args or e.has(sympy.Piecewise):
        return e
    far = sympy.And(*(sympy.Lt(a, -UNDERFLOW_EXPONENT) for a in args))
    return sympy.Piecewise((0, far), (e, True))


def underflow_cutoff(expr: sympy.Expr, x: sympy.Symbol, expand: bool = False) -> sympy.Expr:
    """``_cutoff_one`` on each term of each branch (of its expansion if ``expand``): in
    c - x*exp(-x) only the second term decays (and is inf*0 at x = inf)."""

    def terms(e: sympy.Expr) -> sympy.Expr:
        e = sympy.expand(e) if expand else e
        return sympy.Add(*(_cutoff_one(t, x) for t in sympy.Add.make_args(e)))

    return sympy.piecewise_fold(_per_branch(expr, terms))


def _rationalised(e: sympy.Expr) -> sympy.Expr:
    """n/d with a numerator such as sqrt(u) - y multiplied out by its conjugate:
    (u - y**2)/(d*(sqrt(u) + y)), in which u - y**2 is cancelled symbolically, not in floats."""
    n, d = sympy.fraction(sympy.together(e))
    terms = sympy.Add.make_args(n)
    roots = [p for p in n.atoms(sympy.Pow) if p.exp == sympy.S.Half]
    if not roots or not any(t.could_extract_minus_sign() for t in terms) or len(terms) < 2:
        return sympy.together(e)  # nothing cancels in a sum of positive terms
    return 1 / (d * sympy.radsimp(1 / n))


def mirror_split(expr: sympy.Expr, x: sympy.Symbol, rationalise: bool = False) -> sympy.Expr:
    """Each sign of x on its own, written in y = |x| > 0 and simplified there.

    SymPy then drops Abs and sign, and cancels what cancels exactly: x/(1 + b*|x|) + 1/b is
    1/(b*(1 + b*|x|)) for x < 0 (in floats -1/b + 1/b loses every digit), and 1 - erfc(a*x)/2 is
    erfc(a*|x|)/2. With ``rationalise``, a numerator sqrt(u) - y is multiplied out by its
    conjugate (the left tail of x/sqrt(x**2 + a**2)).
    """
    if not expr.has(x):
        return expr
    y = sympy.Dummy("y", positive=True)

    def side(sign: int) -> sympy.Expr:
        e = sympy.piecewise_fold(expr.subs(x, sign * y))
        e = _per_branch(e, _rationalised if rationalise else sympy.together)
        return e.xreplace({y: sympy.Abs(x)})

    return sympy.piecewise_fold(sympy.Piecewise((side(1), sympy.Ge(x, 0)), (side(-1), True)))


def _split_powers(e: sympy.Expr) -> sympy.Expr:
    """(1 + c/t)**a -> (t + c)**a * t**(-a) and log(1 + c/t) -> log(t + c) - log(t): the
    dominant power of 1/t out of every non-integer power and logarithm, so that neither
    overflows as t -> 0. Valid for positive bases; ``choose`` proves every use."""
    e = e.replace(
        lambda n: n.is_Pow and not n.exp.is_Integer,
        lambda n: sympy.Pow(sympy.together(n.base), n.exp),
    )
    e = e.replace(
        lambda n: isinstance(n, sympy.log), lambda n: sympy.log(sympy.together(n.args[0]))
    )
    return sympy.expand_log(sympy.expand_power_base(e, force=True), force=True)


# The stabilised rewrites fold every Piecewise of an expression into one: at most this many.
MAX_FOLD_PIECEWISE = 6


def stabilised(model: SurrogateModel, expr: sympy.Expr) -> Iterator[tuple[str, sympy.Expr]]:
    """The second tier of candidates, tried when a form is not finite everywhere, cheapest and
    most often sufficient first: 0 where every exponential has underflowed, growing exponentials
    split at the sign of their exponent, the expression in 1/x (divided by its dominant power)
    beyond a crossover, and combinations. Computed lazily: each costs symbolic work.

    None for an expression with more than MAX_FOLD_PIECEWISE Piecewise nodes: each rewrite folds
    them into one (``piecewise_fold``), whose size is the product of theirs (a finite Sum unrolled
    to 16 masked terms would not finish), and none of these rewrites targets such an expression
    (its selects come from a Sum's bound or a periodic reduction, not from exponentials or 1/x).
    """
    if len(expr.atoms(sympy.Piecewise)) > MAX_FOLD_PIECEWISE:
        return
    x = model.x
    bps = [abs(b) for b in model.breakpoints]
    crossover = sympy.Max(1, *bps) if bps else sympy.S.One
    seen = {expr}

    def new(e: sympy.Expr) -> bool:
        fresh = e not in seen
        seen.add(e)
        return fresh

    split = exp_split(expr, x)
    if new(split):
        yield "exponentials split", split
        if new(e := underflow_cutoff(split, x)):
            yield "exponentials split, 0 where they underflow", e
    if new(e := underflow_cutoff(expr, x)):
        yield "0 where the exponentials underflow", e
    if new(e := large_split(expr, x, crossover)):
        yield f"in 1/x beyond |x| > {crossover}", e
    for label, rationalise in (("", False), (", conjugate numerators", True)):
        mirrored = mirror_split(expr, x, rationalise)
        if new(mirrored):
            yield f"each sign of x in |x|{label}", mirrored
            if new(e := large_split(mirrored, x, crossover)):
                yield f"each sign of x in |x|{label}, in 1/x beyond |x| > {crossover}", e
    if split != expr and new(e := large_split(split, x, crossover)):
        yield f"exponentials split, in 1/x beyond |x| > {crossover}", e
    if sympy.count_ops(expr) <= EXPAND_MAX_OPS and new(e := underflow_cutoff(expr, x, True)):
        yield "expanded, 0 where the exponentials underflow", e


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
    if _piecewise_polynomial(folded):
        for label, rewrite in _FACTORINGS:
            if (factored := rewrite(folded, x)) is not None:
                found[label] = factored
    return _unique(found)


def _even_power_of(x: sympy.Symbol) -> Callable[[sympy.Basic], bool]:
    return lambda n: n.is_Pow and n.base == x and bool(n.exp.is_even)


CANCELS_TO = sympy.Rational(3, 4)  # a*v**2 - c factored where a*v**2 > 3/4 c: c - a*v**2 < c/4


PolyRewrite = Callable[[sympy.Poly, sympy.Expr], sympy.Expr | None]


def _per_polynomial_branch(
    expr: sympy.Expr, x: sympy.Symbol, rewrite: PolyRewrite
) -> sympy.Expr | None:
    """``rewrite(poly, v)`` for each branch that is a polynomial of degree >= 2 in x or in |x|
    (``v``), its coefficients free of x; None if no branch changed."""
    y = sympy.Dummy("y", positive=True)

    def one(e: sympy.Expr) -> sympy.Expr:
        for var, back in ((x, x), (y, sympy.Abs(x))):
            # In |x|, SymPy writes |x|**2 as x**2: even powers of x are powers of y too.
            body = e
            if var is y:
                body = e.subs(sympy.Abs(x), y).replace(_even_power_of(x), lambda n: y**n.exp)
            if not body.is_polynomial(var) or (var is y and body.has(x)):
                continue
            poly = sympy.Poly(body, var)
            if poly.degree() < 2 or any(c.has(x) for c in poly.all_coeffs()):
                continue
            found = rewrite(poly, back)
            return e if found is None else found
        return e

    rewritten = _per_branch(expr, one)
    return None if rewritten == expr else rewritten


def factored_polynomials(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr | None:
    """Each polynomial branch factored over the rational functions of the parameters: near a
    zero r of a polynomial the sum of its terms cancels (x**2/2 + x + 1/2 keeps no digit of its
    value near x = -1), while the factor x - r is exact there (Sterbenz) when r is exact, as a
    parameter or a simple multiple of one is; the others keep their digits."""

    def factored(poly: sympy.Poly, v: sympy.Expr) -> sympy.Expr | None:
        coeff, factors = sympy.factor_list(poly.as_expr(), poly.gen)
        if sum(m for _, m in factors) < 2:
            return None  # irreducible over the parameters' rational functions
        product = coeff * sympy.Mul(*[f**m for f, m in factors])
        return product.xreplace({poly.gen: v})

    return _per_polynomial_branch(expr, x, factored)


CANCELS_TO = sympy.Rational(3, 4)  # a*v**2 - c factored where a*v**2 > 3/4 c: c - a*v**2 < c/4


def factored_quadratics(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr | None:
    """Each branch that is a square or a difference of squares in x (or in |x|), with its
    coefficients free of x, written as its factors: a*(x - r)**2, and a*(x - r)*(x + r) where
    the difference cancels (CANCELS_TO). Unlike ``factored_polynomials``, roots may be
    irrational in the parameters: alpha - alpha**2*x**2 is -alpha**2*(x - r)*(x + r) with
    r = 1/sqrt(alpha), exact at alpha = 1, where the sum cancels to a few digits near x = +-r.
    None if nothing changed."""

    def factored(poly: sympy.Poly, v: sympy.Expr) -> sympy.Expr | None:
        if poly.degree() != 2:
            return None
        roots = sympy.roots(poly)
        lead, linear, constant = poly.all_coeffs()
        if sum(roots.values()) != 2 or not (len(roots) == 1 or linear == 0):
            return None
        product = lead * sympy.Mul(*[(v - r) ** m for r, m in roots.items()])
        if len(roots) == 1:
            return product
        # A difference of squares: the rounded root r costs x - r as many digits as the
        # cancellation of the polynomial does, so the factors are used only where it cancels
        # to under a quarter (where the root is exact, as for 1 - x**2, they are exact), and
        # only where the roots are real (parameters that give a sum of squares keep e).
        cancels = sympy.And(
            lead * constant < 0, sympy.Abs(lead) * v**2 > CANCELS_TO * sympy.Abs(constant)
        )
        return sympy.Piecewise((product, cancels), (poly.as_expr().xreplace({poly.gen: v}), True))

    return _per_polynomial_branch(expr, x, factored)


def log1p_form(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr | None:
    """Every ``log(1 + u)`` with u depending on x as ``log1p(u)``: log(1 + 1e-30) rounds 1 + u
    to 1 and gives 0, log1p keeps every digit of a small u (None if there is no such log)."""

    def one_plus(e: sympy.Basic) -> bool:
        return (
            isinstance(e, sympy.log)
            and e.args[0].is_Add
            and sympy.S.One in e.args[0].args
            and e.args[0].has(x)
        )

    if not expr.has(sympy.log):
        return None
    rewritten = expr.replace(one_plus, lambda e: _log1p_large(e.args[0] - 1, x))
    return None if rewritten == expr else rewritten


LOG1P_LARGE = 2**24  # beyond this log1p(u) = log|c| + log|x| + log1p(1/u) loses nothing


def _log1p_large(u: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """log1p(u); for u = c*x (c free of x) beyond LOG1P_LARGE, log|c| + log|x| + log1p(1/u),
    which stays finite where c*x overflows (log1p(1.5*x) at x = 3e38 in float32). Where the
    true value is finite and u is that large, u is positive, so log u = log|c| + log|x|.
    The large branch sees |x| clamped to 1 and up, so it never takes log 0 where not taken."""
    c = sympy.diff(u, x)
    if c.has(x) or sympy.simplify(u - c * x) != 0:
        return log1p(u)
    big = sympy.Max(sympy.Abs(x), 1)
    large = sympy.log(sympy.Abs(c)) + sympy.log(big) + log1p(1 / (sympy.Abs(c) * big))
    return sympy.Piecewise((large, sympy.Abs(u) > LOG1P_LARGE), (log1p(u), True))


def _together_collected(e: sympy.Expr, params: Sequence[sympy.Symbol]) -> sympy.Expr:
    """``e`` over one denominator, its numerator expanded and collected in the parameters:
    x/(1 + s|x|) - B/(1 + s|B|) becomes (x - B + s*(x|B| - B|x|))/(...), where x - B keeps its
    digits and x|B| - B|x| is an exact 0 for x and B of one sign (the difference of the two
    fractions, as written, cancels to a few digits near x = B)."""
    if not e.has(sympy.Add) or isinstance(e, sympy.Piecewise):
        return e
    numerator, denominator = sympy.fraction(sympy.together(e))
    if denominator == 1:
        return e
    return sympy.collect(sympy.expand(numerator), list(params)) / denominator


def origin_candidates(model: SurrogateModel) -> dict[str, sympy.Expr]:
    """Forms of the origin to emit: the spec's ``origin_impl`` if given, else the origin itself,
    and rewrites each proven equal before use."""
    if model.origin_impl is not None:
        return {"origin_impl": model.origin_impl}
    assert model.origin is not None, "a gradient-only family has no origin to emit"
    origin = model.expanded(model.origin)
    found = {"origin": origin}
    collected = _per_branch(origin, lambda e: _together_collected(e, model.params))
    if collected != origin:
        found["over one denominator, collected"] = collected
    if (reduced := periodic_reduction(origin, model.x)) is not None:
        found["periodic reduction"] = reduced
    if (large := large_argument_form(origin, model.x)) is not None:
        found["large-argument form"] = large
    if (safe := zero_safe_products(model, origin)) is not None:
        found["zero-safe products"] = safe
    if (small := log1p_form(origin, model.x)) is not None:
        found["log1p of small arguments"] = small
    if _piecewise_polynomial(origin):
        for side, base in (("", origin), ("each sign of x, ", mirror_split(origin, model.x))):
            for label, rewrite in _FACTORINGS:
                if (factored := rewrite(base, model.x)) is not None:
                    found[side + label] = factored
    return found


_FACTORINGS = (
    ("polynomials factored", factored_polynomials),
    ("quadratics factored at their roots", factored_quadratics),
)


def _piecewise_polynomial(expr: sympy.Expr) -> bool:
    """No function but Abs, sign and Piecewise: each branch may be a polynomial in x or |x|
    (splitting a Fourier series at the sign of x costs minutes and factors nothing)."""
    allowed = sympy.Abs | sympy.sign | sympy.Piecewise
    return all(isinstance(f, allowed) for f in expr.atoms(sympy.Function))


# --- floating-point score ----------------------------------------------------------------------


@dataclass(frozen=True)
class FloatScore:
    """How a form fares in floating point against the exact value."""

    nonfinite: int  # NaN/inf where the true value is finite (must be 0)
    wrong: int  # finite but off by more than FLOAT_CHECKS' tolerance (e.g. flushed to 0)
    max_rel_f32: float
    first_bad: str
    # The worst float64 relative error where |x| is within float32's range: what a float32
    # input evaluated in float64 can reach (a backend may widen float32 kernels to float64).
    max_rel_f64: float = 0.0
    # Every Piecewise branch may be evaluated everywhere (branch-free select) without an
    # invalid-operation or divide-by-zero flag, which NumPy would report as a RuntimeWarning.
    branch_free: bool = True


def float_grid(model: SurrogateModel, dtype: np.dtype) -> np.ndarray:
    """The extreme grid plus a dense grid around the breakpoints, in float32 values (exactly
    representable in float64 too: both dtypes see the same points and share their references).
    """
    bps = [float(b) for b in numeric_breakpoints(model, param_sets(model)[0])]
    width = max([abs(b) for b in bps] + [1.0])
    dense = np.linspace(-10 * width, 10 * width, DENSE_POINTS)
    near = [b + s * d for b in bps for s in (-1, 1) for d in (1e-6 * width, 1e-3 * width)]
    tail = width * np.logspace(0, TAIL_DECADES, TAIL_POINTS)
    points = [np.array(EXTREME_GRID), dense, np.array(near), tail, -tail]
    with np.errstate(over="ignore"):
        return np.concatenate(points).astype(np.float32).astype(dtype)


def _reference(x: float, params: Sequence[mpmath.mpf], f: Evaluator) -> float | None:
    """f at a float input; at +-inf its limit."""
    if np.isfinite(x):
        value = f(mpmath.mpf(x), params)
        return None if value is None else float(value)
    return limit_value(lambda t: f(t, params), 1 if x > 0 else -1)


@functools.lru_cache(maxsize=64)
@at_dps
def _float_references(
    model: SurrogateModel, exact_expr: sympy.Expr, which: int = 0
) -> dict[np.dtype, list[float | None]]:
    """The exact values on each dtype's float grid; computed once, shared by every candidate."""
    exact = Evaluator(model, exact_expr, dps=REFERENCE_DPS, adaptive=True)
    params = param_sets(model)[which]
    xs = float_grid(model, np.dtype(np.float64)).tolist()
    shared = [_reference(x, params, exact) for x in xs]
    return dict.fromkeys(FLOAT_CHECKS, shared)


def _raises_flags(f: Callable[..., object], xs: np.ndarray, params: list[object]) -> bool:
    """lambdify's NumPy code evaluates every Piecewise branch at every x, as a select does."""
    try:
        with np.errstate(invalid="raise", divide="raise", over="ignore", under="ignore"):
            f(xs, *params)
    except (FloatingPointError, ZeroDivisionError):
        return True
    return False


@at_dps
def float_score(
    model: SurrogateModel, expr: sympy.Expr, exact_expr: sympy.Expr, which: int = 0
) -> FloatScore:
    """Score ``expr`` in float32/float64 against ``exact_expr`` at ``param_sets(model)[which]``
    (the defaults unless asked)."""
    f = lambdify(model, expr, "numpy")
    references = _float_references(model, exact_expr, which)
    params = param_sets(model)[which]
    nonfinite = wrong = 0
    max_rel = max_rel_f64 = 0.0
    f32_max = float(np.finfo(np.float32).max)
    first_bad, first_nonfinite = "", ""
    branch_free = True
    for dtype, tol in FLOAT_CHECKS.items():
        xs = float_grid(model, dtype)
        typed = [dtype.type(float(p)) for p in params]
        branch_free = branch_free and not _raises_flags(f, xs, typed)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.broadcast_to(np.asarray(f(xs, *typed)), xs.shape).astype(dtype)
        # As Python floats: a comparison with a NumPy float32 scalar would round the reference
        # to float32 first (NEP 50), overflowing (a RuntimeWarning) or moving it across tiny.
        f_max, f_tiny = float(np.finfo(dtype).max), float(np.finfo(dtype).tiny)
        for x, y, ref in zip(xs.tolist(), got.tolist(), references[dtype], strict=True):
            if ref is None or abs(ref) > f_max:
                continue
            if not np.isfinite(y):
                nonfinite += 1
                first_nonfinite = first_nonfinite or (
                    f"{y} in {dtype} at x = {x!r} where the true value is {ref:.6g}"
                )
            elif abs(ref) >= f_tiny:
                rel = abs(y - ref) / abs(ref)
                if dtype == np.float32:
                    max_rel = max(max_rel, rel)
                elif dtype == np.float64 and abs(x) <= f32_max:
                    max_rel_f64 = max(max_rel_f64, rel)
                if rel > tol:
                    wrong += 1
                    first_bad = first_bad or (
                        f"{y!r} in {dtype} at x = {x!r} where the true value is {ref:.6g}"
                    )
    return FloatScore(
        nonfinite=nonfinite,
        wrong=wrong,
        max_rel_f32=max_rel,
        max_rel_f64=max_rel_f64,
        first_bad=first_nonfinite or first_bad,
        branch_free=branch_free,
    )


def _scale_product(m: sympy.Mul, x: sympy.Symbol, scaled: set[sympy.Expr]) -> sympy.Expr:
    exps = [f for f in m.args if isinstance(f, sympy.exp) and f.has(x)]
    coefficient = sympy.Mul(*(f for f in m.args if not f.has(x)))
    if len(exps) != 1 or coefficient == 1 or not coefficient.is_positive:
        return m
    if coefficient.is_number and coefficient < 1:
        return m  # a factor below 1 cannot lift a flushed exp into the normal range
    rest = [f for f in m.args if f.has(x) and f is not exps[0]]
    u = exps[0].args[0]
    scaled.add(u)
    # (c*ShiftedExp(u))*ExpShift(u), left to right: each factor and each partial product is
    # normal wherever the result is. UnevaluatedExpr: SymPy would reorder the product.
    return sympy.Mul(
        sympy.UnevaluatedExpr(coefficient * ShiftedExp(u)) * sympy.UnevaluatedExpr(ExpShift(u)),
        *rest,
    )


def scaled_exponentials(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """c*exp(u) -> (c*ShiftedExp(u))*ExpShift(u) for a positive factor c: where exp(u) alone is
    subnormal (and flushed to 0 by a flushing backend) but c*exp(u) is normal, the value
    survives. 4*exp(-88) is 2.4e-38 (a normal float32); exp(-88) alone is subnormal. ShiftedExp
    is exp(u) times 2**64 below u = -64 and ExpShift the factor 2**-64 there (``printers``): one
    exponential, and a last product by a power of two that is exact where the result is normal.
    The other occurrences of exp(u) become ShiftedExp(u)*ExpShift(u), the same exponential."""
    scaled: set[sympy.Expr] = set()
    out = expr.replace(lambda n: isinstance(n, sympy.Mul), lambda n: _scale_product(n, x, scaled))
    rest = {
        sympy.exp(u): sympy.UnevaluatedExpr(ShiftedExp(u)) * sympy.UnevaluatedExpr(ExpShift(u))
        for u in scaled
    }
    return out.xreplace(rest)


@dataclass(frozen=True)
class Candidate:
    """One candidate form as ``choose`` saw it (the docs show why the emitted one won)."""

    name: str
    expr: sympy.Expr
    score: FloatScore | None  # None: an automatic rewrite that is not equal here (skipped)
    ops: int  # sympy.count_ops: the tie-breaker among accurate forms


@at_dps
def flush_safe(model: SurrogateModel, emitted: sympy.Expr, exact: sympy.Expr) -> sympy.Expr:
    """The emitted form for backends that flush subnormal results to 0 (XLA on the CPU):
    ``scaled_exponentials`` of it where that changes it, is proven equal and is no less finite
    or close on the float grids, else the form itself. It saves results near the smallest
    normal number (sigmoid's gradient at x = 22 is 2.4e-38, not 0)."""
    scaled = scaled_exponentials(emitted, model.x)
    if scaled == emitted or worst_difference(model, scaled, exact) is not None:
        return emitted
    before, after = float_score(model, emitted, exact), float_score(model, scaled, exact)
    if (after.nonfinite, after.wrong) > (before.nonfinite, before.wrong):
        return emitted
    return scaled


def _score_all(
    model: SurrogateModel,
    exact: sympy.Expr,
    candidates: dict[str, sympy.Expr],
    impl: str,
    label: str,
    seen: list[Candidate],
    first: int = 0,
) -> list[tuple[tuple[Any, ...], str, sympy.Expr, FloatScore]]:
    """Each candidate proven equal to ``exact`` with its sort key; every candidate, equal or
    not, is appended to ``seen``."""
    scored = []
    for order, (name, expr) in enumerate(candidates.items(), start=first):
        found = worst_difference(model, expr, exact)
        ops = int(sympy.count_ops(expr))
        if found is not None:
            if name == impl:
                (x, params), got, want = found
                raise CheckError(
                    f"{model.spec.path}: {impl}: differs from {label} at"
                    f" {where(model, x, params)}: {impl} {fmt(got)}, {label} {fmt(want)}"
                )
            seen.append(Candidate(name, expr, None, ops))
            continue  # an automatic rewrite that is not valid for this surrogate
        score = float_score(model, expr, exact)
        seen.append(Candidate(name, expr, score, ops))
        accurate = score.max_rel_f32 <= ACCURATE_EPS * float(np.finfo(np.float32).eps)
        key = (score.nonfinite, score.wrong, not accurate, ops, score.max_rel_f32, order)
        scored.append((key, name, expr, score))
    return scored


@at_dps
def choose(
    model: SurrogateModel, exact: sympy.Expr, candidates: dict[str, sympy.Expr], what: str
) -> tuple[str, sympy.Expr, FloatScore]:
    """``choose_scored`` without the record of the candidates."""
    name, expr, score, _ = choose_scored(model, exact, candidates, what)
    return name, expr, score


@at_dps
def choose_scored(
    model: SurrogateModel, exact: sympy.Expr, candidates: dict[str, sympy.Expr], what: str
) -> tuple[str, sympy.Expr, FloatScore, tuple[Candidate, ...]]:
    """The candidate proven equal to ``exact`` that behaves best in float32/float64.

    ``what`` is "grad" or "origin"; a spec's own ``<what>_impl`` must be equal, automatic rewrites
    that are not are skipped. Ties go to the cheaper expression, then to the earlier candidate.
    When no candidate is finite everywhere, the stabilised ones (``stabilised``) are tried too.
    """
    path, impl = model.spec.path, f"{what}_impl"
    label = "origin" if what == "origin" else "d(origin)/dx" if model.origin is not None else "grad"
    seen: list[Candidate] = []
    scored = _score_all(model, exact, candidates, impl, label, seen)
    best = min(scored, key=lambda item: item[0])
    if impl not in candidates and best[0][:2] != (0, 0):
        # The rewrites of the best candidate, and of the spec's own form: a first-tier rewrite
        # can be finite yet cancel (a large-argument form 1/2 - 1/2 at x = -1e4) where a
        # rewrite of the plain form (conjugate numerators) is exact.
        first_name, first_expr = next(iter(candidates.items()))
        bases = {best[1]: best[2], first_name: first_expr}
        more = {
            f"{base}, {k}": v for base, expr in bases.items() for k, v in stabilised(model, expr)
        }
        more = {k: v for k, v in more.items() if v not in candidates.values()}
        scored += _score_all(model, exact, more, impl, label, seen, first=len(candidates))
    _, name, expr, score = min(scored, key=lambda item: item[0])
    if score.nonfinite and name == impl:
        raise CheckError(
            f"{path}: {impl}: the emitted {what} ({impl}) gives {score.first_bad}; make it finite"
            f" there, or remove '{impl}' and let the generator look for a stable form"
        )
    if score.nonfinite:
        raise CheckError(
            f"{path}: origin: the emitted {what} ({name}) gives {score.first_bad}, and no"
            " automatic rewrite (exponentials split at the sign of their exponent, 0 where they"
            " underflow, 1/x beyond a crossover, each sign of x in |x|) is finite there; add a"
            f" numerically stable, equal '{impl}'"
        )
    return name, expr, score, tuple(seen)


# --- higher derivatives: the first candidate that is finite wherever the true value is ----------

SMALL_DENSE = 101  # points of the dense part of the finiteness grid of higher derivatives


def small_grid(model: SurrogateModel) -> np.ndarray:
    """The extreme grid, a coarse dense grid and both sides of every breakpoint, in float32
    values (exactly representable in float64 too, so both dtypes see the same points)."""
    bps = [float(b) for b in numeric_breakpoints(model, param_sets(model)[0])]
    width = max([abs(b) for b in bps] + [1.0])
    dense = np.linspace(-10 * width, 10 * width, SMALL_DENSE)
    near = [b + s * d for b in bps for s in (-1, 1) for d in (1e-3 * width, 0.1 * width)]
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(EXTREME_GRID), dense, np.array(near)]).astype(np.float32)


@functools.lru_cache(maxsize=256)
@at_dps
def _small_references(model: SurrogateModel, exact: sympy.Expr) -> tuple[float | None, ...]:
    """Whether (and how large) the true value is at each point: 40 digits are enough to tell a
    finite value from an infinite one, even where a raw derivative cancels."""
    f = Evaluator(model, exact, adaptive=True)
    params = param_sets(model)[0]
    return tuple(_reference(x, params, f) for x in small_grid(model).tolist())


def nonfinite_points(model: SurrogateModel, expr: sympy.Expr, exact: sympy.Expr) -> tuple[int, str]:
    """How many points of ``small_grid`` (float32 and float64, default parameters) give NaN/inf
    for ``expr`` where ``exact`` is finite, and the first of them ("" if none)."""
    f = lambdify(model, expr, "numpy")
    params = param_sets(model)[0]
    references = _small_references(model, exact)
    count, first = 0, ""
    for dtype in FLOAT_CHECKS:
        xs = small_grid(model).astype(dtype)
        typed = [dtype.type(float(p)) for p in params]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.broadcast_to(np.asarray(f(xs, *typed)), xs.shape).astype(dtype)
        for x, y, ref in zip(xs.tolist(), got.tolist(), references, strict=True):
            if ref is not None and abs(ref) <= float(np.finfo(dtype).max) and not np.isfinite(y):
                count += 1
                first = first or f"{y} in {dtype} at x = {x!r} where the true value is {ref:.6g}"
    return count, first


def first_nonfinite(model: SurrogateModel, expr: sympy.Expr, exact: sympy.Expr) -> str:
    """The first point where ``expr`` is NaN/inf and ``exact`` finite ("" if none)."""
    return nonfinite_points(model, expr, exact)[1]


def _proven_equal(model: SurrogateModel, expr: sympy.Expr, exact: sympy.Expr) -> bool:
    """``expr`` equals ``exact`` at every PROOF_STRIDE-th sample point (40 digits).

    A form that is ``exact`` itself except where earlier Piecewise conditions hold (the
    underflow cutoff) is compared only where one of them does: elsewhere it is ``exact``."""
    if isinstance(expr, sympy.Piecewise) and expr.args[-1] == (exact, sympy.true):
        guard = sympy.Or(*(cond for _, cond in expr.args[:-1]))
        test = lambdify(model, guard, "mpmath")
        f = Evaluator(model, sympy.Piecewise(*expr.args[:-1], (0, True)))
        g = Evaluator(model, exact)
        for ps in param_sets(model):
            for x in sample_points(model, ps)[::PROOF_STRIDE]:
                if bool(test(x, *ps)) and differ(f(x, ps), g(x, ps)):
                    return False
        return True
    # Adaptive digits: a higher derivative's exact zeros (sin(c*x) at a multiple of its period)
    # carry 40-digit noise that an exact rewrite (x reduced modulo the period) does not.
    return worst_difference(model, expr, exact, PROOF_STRIDE, adaptive=True) is None


@at_dps
def choose_finite(model: SurrogateModel, exact: sympy.Expr, label: str) -> tuple[sympy.Expr, str]:
    """A form of ``exact`` (a higher derivative, a parameter derivative) that is finite wherever
    its true value is: the exact expression itself if it is, else the first stabilised rewrite
    proven equal to it.

    Where no form is finite everywhere, the proven form with the fewest failures is used and the
    second element says where it fails (a caveat for the docs): these derivatives serve
    higher-order transforms and learnable parameters, and a spec whose origin and gradient are
    sound is not refused for them.
    """
    found, problem = _finite_form(model, exact)
    if problem:
        return found if found is not None else exact, (
            f"{label} gives {problem}; no automatic rewrite is finite there"
        )
    assert found is not None
    return found, ""


@functools.lru_cache(maxsize=512)
@at_dps
def _finite_form(model: SurrogateModel, exact: sympy.Expr) -> tuple[sympy.Expr | None, str]:
    """``choose_finite``'s search, cached: derivatives in parameters that enter the same way
    (a slope written as a sum of parameters) are one expression."""
    fewest, problem = nonfinite_points(model, exact, exact)
    if not fewest:
        return exact, ""
    best: sympy.Expr | None = None
    x = model.x
    tried = {"together": _per_branch(exact, sympy.together)}
    if exact.has(x):
        folded = fold_even(exact, x)
        together = _per_branch(folded, sympy.together)
        tried |= {"even-folded": folded, "even-folded, together": together}
        # The first tier's argument rewrites: x reduced modulo the period of a Fourier series
        # (sin(c*x) is NaN once c*x overflows), x**2 kept from overflowing in x/sqrt(x**2 + c).
        for name, rewrite in (
            ("periodic reduction", periodic_reduction),
            ("large-argument form", large_argument_form),
        ):
            if (found := rewrite(exact, x)) is not None:
                tried[name] = found
    for base in (exact, *_unique(tried).values()):
        for expr in itertools.chain([base], (e for _, e in stabilised(model, base))):
            if expr is exact:
                continue
            count, first = nonfinite_points(model, expr, exact)
            if count < fewest and _proven_equal(model, expr, exact):
                if not count:
                    return expr, ""
                best, fewest, problem = expr, count, first
    return best, problem

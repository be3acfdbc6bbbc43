"""Stage 4, the generic part: what every code printer shares. Backends subclass SymPy's printers
with these mixins (``generator/backends/*.py``); the printers own every character of maths and the
templates own layout only.

A printer declares ``reserved_names``: the identifiers its output uses unqualified (modules,
built-ins), which a spec parameter must not shadow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import sympy
from sympy.printing.precedence import PRECEDENCE

TEMP_PREFIX = "_t"  # CSE temporaries _t0, _t1, ...: a spec parameter cannot start with "_"


def is_constant(expr: sympy.Expr) -> bool:
    """A number that is not a literal (sqrt(2), pi/2, ...): printed as one float literal.

    NaN is not one: each printer spells it (``jnp.nan``, a typed ``math.nan``)."""
    return (
        bool(expr.is_number)
        and not isinstance(expr, sympy.Integer | sympy.Float)
        and expr is not sympy.nan
    )


def guarded(expr: sympy.Expr, guard: sympy.Basic) -> sympy.Expr:
    """``expr`` where the parameters are valid (``guard``), NaN elsewhere."""
    if guard is sympy.true:
        return expr
    return sympy.Piecewise((expr, guard), (sympy.nan, True))


class CodePrinterMixin:
    """Constants folded to one literal, and small integer and half powers as products and square
    roots (cheaper and dtype-neutral).

    Contract for the concrete printer: ``sqrt_function`` (how ``sqrt`` is spelled) and
    ``_print_constant(expr)`` (how a folded number is spelled).
    """

    sqrt_function: ClassVar[str]
    reserved_names: ClassVar[frozenset[str]] = frozenset()
    compensated_exp: ClassVar[bool] = False  # spells ExpMonomial (_print_exp_monomial)
    shifted_exp: ClassVar[bool] = False  # ... and its ShiftedExp and ExpShift kinds

    def _print_constant(self, expr: sympy.Expr) -> str:
        raise NotImplementedError

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, sympy.Expr) and is_constant(expr) and not isinstance(expr, sympy.Pow):
            return self._print_constant(expr)
        return super()._print(expr, **kwargs)  # type: ignore[misc]

    def _print_ExpMonomial(self, expr: ExpMonomial) -> str:
        p: Any = self
        x, kind, scale, n, *atoms = expr.args
        k = int(n)
        if int(kind) and not getattr(self, "shifted_exp", False):
            return str(p._print(expr.as_exp()))  # ShiftedExp / ExpShift, uncompensated
        return self._print_exp_monomial(
            p._print(x),
            int(kind),
            repr(float(scale)),
            [p._print(a) for a in atoms[:k]],
            [p._print(a) for a in atoms[k:]],
        )

    def _print_exp_monomial(
        self, x: str, kind: int, scale: str, num: list[str], den: list[str]
    ) -> str:
        """How a backend spells exp(scale * prod(num) / prod(den)) with compensated products
        (kind 0), its ``ShiftedExp`` (1) or its ``ExpShift`` (2), for a printer whose
        ``compensated_exp`` is true."""
        raise NotImplementedError

    def _print_ShiftedExp(self, expr: ShiftedExp) -> str:
        """exp(u + SHIFT*ln 2 * [u < -SHIFT_BELOW]) of an argument that is no product (the
        compensated ones print as ``ExpMonomial``)."""
        p: Any = self
        u = expr.args[0]
        shift = sympy.Piecewise((sympy.Float(SHIFT * math.log(2), 17), u < -SHIFT_BELOW), (0, True))
        return str(p._print(sympy.exp(u + shift, evaluate=False)))

    def _print_ExpShift(self, expr: ExpShift) -> str:
        p: Any = self
        u = expr.args[0]
        return str(
            p._print(sympy.Piecewise((sympy.Rational(1, 2**SHIFT), u < -SHIFT_BELOW), (1, True)))
        )

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        p: Any = self  # the SymPy printer this mixin is combined with
        base, e = expr.base, expr.exp
        if is_constant(expr):
            return self._print_constant(expr)
        b = p.parenthesize(base, PRECEDENCE["Pow"])
        if e == sympy.S.Half:
            return f"{self.sqrt_function}({p._print(base)})"
        # Every result is parenthesised: SymPy's Mul printer sees a Pow (which binds tighter than
        # * and /) and would print a/(b*b) as "a/b * b".
        if e == -sympy.S.Half:
            return f"({p._print(sympy.S.One)} / {self.sqrt_function}({p._print(base)}))"
        if e.is_Rational and e.q == 2 and 3 <= abs(int(e.p)) <= 9:
            # b**(k + 1/2) as b*...*b*sqrt(b): exact-rounded sqrt instead of pow, and a quotient
            # c/b**1.5 stays a division (XLA rewrites c/pow(b, 1.5) as c*pow(b, -1.5), which
            # underflows to a flushed subnormal where the quotient is still normal)
            n = abs(int(e.p)) // 2
            prod = " * ".join([b] * n + [f"{self.sqrt_function}({p._print(base)})"])
            return f"({prod})" if e > 0 else f"({p._print(sympy.S.One)} / ({prod}))"
        if e.is_Integer and 1 <= abs(int(e)) <= 4:
            n = abs(int(e))
            prod = " * ".join([b] * n)
            prod = prod if n == 1 else f"({prod})"
            return prod if e > 0 else f"({p._print(sympy.S.One)} / {prod})"
        return f"{b} ** {p.parenthesize(e, PRECEDENCE['Pow'])}"


# exp(u) of a rounded argument: a relative error d in u becomes an error of |u|*d in exp(u), so at
# u = -80 (a gradient near 1e-35) the rounding of u alone costs 80 * 0.5 ulp. Where u is a
# product of atoms (symbols, |x|, their integer powers) and a power of two, the printers carry u
# as an unevaluated sum hi + lo of two floats (each product's rounding error kept exactly, by
# the runtimes' two_prod), and exp(u) = exp(hi) * (1 + lo): the argument costs nothing.


class ExpMonomial(sympy.Function):
    """``ExpMonomial(x, kind, scale, n, a1, ..., ak)`` = exp(scale * a1*...*an / (a(n+1)*...*ak))
    (kind 0), its ``ShiftedExp`` (kind 1) or its ``ExpShift`` (kind 2).

    ``scale`` is a signed power of two (exact in every dtype), the ``a`` are atoms (a symbol,
    ``Abs`` of one), so common subexpression elimination cannot split the product; ``x`` is the
    input (its dtype is the result's). Printed by each backend's printer with its runtime's
    compensated products (``_print_exp_monomial``)."""

    def _eval_is_extended_real(self) -> bool:
        return True

    def _eval_is_positive(self) -> bool:
        return True

    def as_exp(self) -> sympy.Expr:
        """The exponential it stands for (for checks and tests)."""
        _, kind, scale, n, *atoms = self.args
        k = int(n)
        u = scale * sympy.Mul(*atoms[:k]) / sympy.Mul(*atoms[k:])
        return (sympy.exp, ShiftedExp, ExpShift)[int(kind)](u)


# Flush-safe exponentials (XLA on the CPU flushes subnormal results to 0): c*exp(u) is normal
# where exp(u) alone is subnormal when c > 1. ``ShiftedExp(u)`` is exp(u) times 2**SHIFT where
# u < -SHIFT_BELOW (exp(u) itself elsewhere), ``ExpShift(u)`` the factor 2**-SHIFT there (1
# elsewhere): (c*ShiftedExp(u))*ExpShift(u), multiplied in that order, is c*exp(u) with one
# exponential, every intermediate normal where the result is, and the last product by a power of
# two exact. The printers compute both from the same rounded u, so that they agree on the side.
SHIFT = 64
SHIFT_BELOW = 64


class ShiftedExp(sympy.Function):
    """exp(u + SHIFT*ln(2)) where u < -SHIFT_BELOW, exp(u) elsewhere."""

    nargs = 1

    def _eval_is_extended_real(self) -> bool | None:
        return self.args[0].is_extended_real

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_extended_real

    def as_exp(self) -> sympy.Expr:
        (u,) = self.args
        return sympy.Piecewise(
            (sympy.exp(u + SHIFT * sympy.log(2)), u < -SHIFT_BELOW), (sympy.exp(u), True)
        )


class ExpShift(sympy.Function):
    """2**-SHIFT where u < -SHIFT_BELOW, 1 elsewhere (``ShiftedExp(u) * ExpShift(u)`` = exp(u))."""

    nargs = 1

    def _eval_is_extended_real(self) -> bool:
        return True

    def _eval_is_positive(self) -> bool:
        return True

    def as_exp(self) -> sympy.Expr:
        (u,) = self.args
        return sympy.Piecewise((sympy.Rational(1, 2**SHIFT), u < -SHIFT_BELOW), (1, True))


def _power_of_two(c: sympy.Basic) -> bool:
    if not isinstance(c, sympy.Rational) or c == 0:
        return False
    p, q = abs(int(c.p)), int(c.q)
    return p & (p - 1) == 0 and q & (q - 1) == 0


def _atom(e: sympy.Basic) -> bool:
    return isinstance(e, sympy.Symbol) or (
        isinstance(e, sympy.Abs) and isinstance(e.args[0], sympy.Symbol)
    )


def _monomial(u: sympy.Expr, x: sympy.Symbol, kind: int) -> ExpMonomial | None:
    """exp(u) as an ``ExpMonomial`` where u is one, and has more than one rounding."""
    if not u.has(x):
        return None
    scale, rest = u.as_coeff_Mul()
    if not _power_of_two(scale):
        return None
    num: list[sympy.Expr] = []
    den: list[sympy.Expr] = []
    for f in sympy.Mul.make_args(rest):
        base, e = f.as_base_exp()
        if not _atom(base) or not e.is_Integer or not 1 <= abs(int(e)) <= 4:
            return None
        (num if e > 0 else den).extend([base] * abs(int(e)))
    if not num or len(num) + len(den) < 2:
        return None  # a single atom (or its inverse, one rounding) is left to exp itself
    return ExpMonomial(x, kind, scale, len(num), *num, *den)


def compensated_exponentials(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """Every exp(u) whose argument is a product of atoms and a power of two as an
    ``ExpMonomial`` (evaluated with the argument's rounding errors compensated)."""

    kinds = {sympy.exp: 0, ShiftedExp: 1, ExpShift: 2}

    def swap(e: sympy.Expr) -> sympy.Expr:
        m = _monomial(e.args[0], x, kinds[type(e)])
        return e if m is None else m

    return expr.replace(lambda e: type(e) in kinds, swap)


@dataclass(frozen=True)
class Printed:
    """A CSE'd expression: temporaries to assign in order, then the result."""

    temps: tuple[tuple[str, str], ...]
    result: str
    constant: bool  # the result does not depend on x (the template must broadcast it)


def print_cse(expr: sympy.Expr, printer: Any, x: sympy.Symbol, compensate: bool = True) -> Printed:
    """Common subexpressions as ``_t0, _t1, ...`` (deterministic numbering), then the result.

    With ``compensate``, for a printer that spells ``ExpMonomial`` (``compensated_exp``),
    exponentials of products are rewritten first (``compensated_exponentials``). The backends
    ask for it in the origin and the gradient, whose accuracy is measured and promised; higher
    and parameter derivatives (autodiff's) keep plain exponentials, which compile faster."""
    if compensate and getattr(printer, "compensated_exp", False):
        expr = compensated_exponentials(expr, x)
    temps, (reduced,) = sympy.cse(
        expr, symbols=sympy.numbered_symbols(TEMP_PREFIX), order="canonical"
    )
    return Printed(
        temps=tuple((str(lhs), printer.doprint(rhs)) for lhs, rhs in temps),
        result=printer.doprint(reduced),
        constant=not expr.has(x),
    )


# Non-finite arguments and speculated branches, for backends whose floating-point flags are
# visible (a CPU ufunc loop: NumPy reports them as warnings). Two kinds of fault, fixed on the
# expression before CSE:
#  - a periodic operation (Mod, floor, sin, cos, tan) of an infinite argument is an invalid
#    operation (inf % p, sin(inf)) and has no value: the smallest enclosing formula (a
#    Piecewise branch, else the whole expression) returns NaN there instead, and the operation
#    sees 0 (``Finite``), so that no NaN reaches an ordered comparison either;
#  - a compiler computes both sides of a Piecewise (select, or an if-converted if/else): a division,
#    log or root in a branch sees its operand only where the branch is taken, 1 elsewhere
#    (``Safe``), so 1/x in the |x| > c branch never divides by 0 at x = 0.

PERIODIC = (sympy.Mod, sympy.floor, sympy.ceiling, sympy.frac, sympy.sin, sympy.cos, sympy.tan)


class Finite(sympy.Function):
    """``a`` where finite, 0 at +-inf (printed by the backend's printer)."""

    nargs = 1

    def _eval_is_extended_real(self) -> bool:
        return True

    def _eval_is_finite(self) -> bool:
        return True


class IsFinite(sympy.logic.boolalg.BooleanFunction):
    """``abs(a) != inf``: a quiet comparison (printed by the backend's printer)."""

    nargs = 1


class Safe(sympy.Function):
    """``Safe(u, cond)``: u where cond holds, else 1 (printed by the backend's printer)."""

    nargs = 2

    def _eval_is_extended_real(self) -> bool | None:
        return self.args[0].is_extended_real


def _rebuild(expr: sympy.Basic, branch: Any) -> sympy.Basic:
    """expr with every Piecewise rebuilt as ``branch(value, guard)`` per branch, innermost first;
    guard: the condition under which that branch is taken."""
    if isinstance(expr, sympy.Piecewise):
        pieces: list[tuple[sympy.Basic, sympy.Basic]] = []
        earlier: list[sympy.Basic] = []
        for value, cond in expr.args:
            taken = sympy.And(cond, *[sympy.Not(c) for c in earlier]) if earlier else cond
            pieces.append((branch(_rebuild(value, branch), taken), cond))
            earlier.append(cond)
        return sympy.Piecewise(*pieces)
    if not expr.args or isinstance(expr, Finite | Safe | IsFinite):
        return expr
    return expr.func(*(_rebuild(a, branch) for a in expr.args))


def _unsafe(e: sympy.Basic, x: sympy.Symbol) -> bool:
    """A division, fractional power or log of an x-dependent operand."""
    if isinstance(e, sympy.Pow) and e.base.has(x) and not isinstance(e.base, Safe):
        return not (e.exp.is_Integer and e.exp >= 0)
    return isinstance(e, sympy.log) and e.args[0].has(x) and not isinstance(e.args[0], Safe)


def _bounded(taken: sympy.Basic, x: sympy.Symbol) -> bool:
    """Whether a branch is taken at neither x = +inf nor x = -inf (decided for every value of
    the parameters; undecided counts as not bounded)."""
    try:
        return all(taken.subs(x, end) is sympy.false for end in (sympy.oo, -sympy.oo))
    except TypeError:  # a comparison with NaN (oo - oo, 0*oo): undecided
        return False


def _undefined_at_infinity(value: sympy.Basic, x: sympy.Symbol) -> bool:
    """Whether ``value`` is undefined at x = +inf or -inf as written (inf - inf, 0*inf,
    inf/inf): what float arithmetic computes there, or once an intermediate overflows."""
    try:
        return any(value.subs(x, end).has(sympy.nan) for end in (sympy.oo, -sympy.oo))
    except (TypeError, ValueError):  # SymPy could not even form it: assume the worst
        return True


def speculation_safe(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """Divisions, roots and logs in a Piecewise branch see their operand only where the branch
    is taken (``Safe``). A branch taken on a bounded range of x sees x itself only there: a
    polynomial such as alpha*x - alpha**2*x**3/3 is inf - inf at x = +-inf, where another branch
    applies (and cubes overflow long before)."""

    def branch(value: sympy.Basic, taken: sympy.Basic) -> sympy.Basic:
        if taken is sympy.true:
            return value
        if value.has(x) and _bounded(taken, x) and _undefined_at_infinity(value, x):
            value = value.xreplace({x: Safe(x, taken)})
        return value.replace(
            lambda e: _unsafe(e, x),
            lambda e: (
                e.func(Safe(e.base, taken), e.exp)
                if isinstance(e, sympy.Pow)
                else e.func(Safe(e.args[0], taken))
            ),
        )

    return _rebuild(expr, branch)


def finite_guarded(expr: sympy.Expr, x: sympy.Symbol) -> sympy.Expr:
    """NaN at x = +-inf in the smallest branch (else the whole expression) that holds a periodic
    operation of an x-dependent argument; the operation itself sees 0 there (``Finite``)."""

    def level(value: sympy.Basic, taken: sympy.Basic = sympy.true) -> sympy.Basic:
        def bare(e: sympy.Basic) -> bool:
            return (
                isinstance(e, PERIODIC) and e.args[0].has(x) and not isinstance(e.args[0], Finite)
            )

        if not any(bare(e) for e in value.atoms(*PERIODIC)):
            return value
        value = value.replace(bare, lambda e: e.func(Finite(e.args[0]), *e.args[1:]))
        # Finite x, not each argument: a condition holding a Piecewise would be rewritten by
        # SymPy; an argument that overflows at finite x is 0 in the operation, and no flag.
        return sympy.Piecewise((value, IsFinite(x)), (sympy.nan, True))

    return level(_rebuild(expr, level))

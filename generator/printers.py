"""Stage 4, the generic part: what every code printer shares. Backends subclass SymPy's printers
with these mixins (``generator/backends/*.py``); the printers own every character of maths and the
templates own layout only.

A printer declares ``reserved_names``: the identifiers its output uses unqualified (modules,
built-ins), which a spec parameter must not shadow.
"""

from __future__ import annotations

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

    def _print_constant(self, expr: sympy.Expr) -> str:
        raise NotImplementedError

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, sympy.Expr) and is_constant(expr) and not isinstance(expr, sympy.Pow):
            return self._print_constant(expr)
        return super()._print(expr, **kwargs)  # type: ignore[misc]

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
        if e.is_Integer and 1 <= abs(int(e)) <= 4:
            n = abs(int(e))
            prod = " * ".join([b] * n)
            prod = prod if n == 1 else f"({prod})"
            return prod if e > 0 else f"({p._print(sympy.S.One)} / {prod})"
        return f"{b} ** {p.parenthesize(e, PRECEDENCE['Pow'])}"


@dataclass(frozen=True)
class Printed:
    """A CSE'd expression: temporaries to assign in order, then the result."""

    temps: tuple[tuple[str, str], ...]
    result: str
    constant: bool  # the result does not depend on x (the template must broadcast it)


def print_cse(expr: sympy.Expr, printer: Any, x: sympy.Symbol) -> Printed:
    """Common subexpressions as ``_t0, _t1, ...`` (deterministic numbering), then the result."""
    temps, (reduced,) = sympy.cse(
        expr, symbols=sympy.numbered_symbols(TEMP_PREFIX), order="canonical"
    )
    return Printed(
        temps=tuple((str(lhs), printer.doprint(rhs)) for lhs, rhs in temps),
        result=printer.doprint(reduced),
        constant=not expr.has(x),
    )

"""Stage 4: SymPy -> code text. The printers own every character of maths; templates own layout.

Both code printers are SymPy printers with ``strict=True``, so an unsupported node raises at
generation time instead of emitting ``# Not supported``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.numpy import JaxPrinter as _SympyJaxPrinter
from sympy.printing.pycode import PythonCodePrinter


def _constant(expr: sympy.Expr) -> bool:
    """A number that is not a literal (sqrt(2), pi/2, ...): printed as one float literal."""
    return bool(expr.is_number) and not isinstance(expr, sympy.Integer | sympy.Float)


class _PowMixin:
    """Small integer and half powers as products and square roots: cheaper and dtype-neutral."""

    def _power(self, base: str, n: int) -> str:
        return " * ".join([base] * n)

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:  # noqa: ARG002 (SymPy API)
        p: Any = self
        base, e = expr.base, expr.exp
        if _constant(expr):
            return p._print_constant(expr)
        b = p.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Pow"])
        if e == sympy.S.Half:
            return f"{p._sqrt}({p._print(base)})"
        # Every result is parenthesised: SymPy's Mul printer sees a Pow (which binds tighter than
        # * and /) and would print a/(b*b) as "a/b * b".
        if e == -sympy.S.Half:
            return f"({p._print(sympy.S.One)} / {p._sqrt}({p._print(base)}))"
        if e.is_Integer and 1 <= abs(int(e)) <= 4:
            prod = self._power(b, abs(int(e)))
            prod = prod if abs(int(e)) == 1 else f"({prod})"
            return prod if e > 0 else f"({p._print(sympy.S.One)} / {prod})"
        return f"{b} ** {p.parenthesize(e, sympy.printing.precedence.PRECEDENCE['Pow'])}"


class JaxPrinter(_PowMixin, _SympyJaxPrinter):
    """SymPy's JAX printer spelling ``jnp.*``, with where-chains and weakly typed literals.

    Python float literals are weakly typed in JAX, so float16/bfloat16/float32 inputs keep their
    dtype; every Piecewise becomes nested ``jnp.where`` (all branches are evaluated, as XLA does).
    """

    _sqrt = "jnp.sqrt"

    def _module_format(self, fqn: str, register: bool = True) -> str:
        fqn = fqn.replace("jax.numpy.", "jnp.", 1)
        return super()._module_format(fqn, register) if not fqn.startswith("jnp.") else fqn

    def _print_constant(self, expr: sympy.Expr) -> str:
        return repr(float(expr))

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, sympy.Expr) and _constant(expr) and not isinstance(expr, sympy.Pow):
            return self._print_constant(expr)
        return super()._print(expr, **kwargs)

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return str(expr.p)

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return repr(float(expr))

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        *branches, (last, _) = expr.args
        text = self._print(last)
        for value, cond in reversed(branches):
            text = f"jnp.where({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _nested(self, fn: str, args: tuple[sympy.Expr, ...]) -> str:
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{fn}({text}, {self._print(arg)})"
        return text

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._nested("jnp.maximum", expr.args)

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._nested("jnp.minimum", expr.args)

    def _print_erf(self, expr: sympy.erf) -> str:
        """jnp has no erf; lax.erf is the primitive jax.scipy.special.erf calls."""
        return f"jax.lax.erf({self._print(expr.args[0])})"

    def _print_erfc(self, expr: sympy.erfc) -> str:
        """erfc directly: 1 - erf(-a*x) loses every digit of the lower tail."""
        return f"jax.lax.erfc({self._print(expr.args[0])})"

    def _print_sign(self, expr: sympy.sign) -> str:
        return f"jnp.sign({self._print(expr.args[0])})"

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"jnp.abs({self._print(expr.args[0])})"


class NumbaPrinter(_PowMixin, PythonCodePrinter):
    """``math``-module Python for Numba CPU and CUDA with every literal typed.

    Numba types a bare float literal as float64 and silently promotes float32 code to double
    (numba/numba#4676), so the setting ``literal`` wraps each number: ``"f32({})"`` for CUDA device
    functions, ``"like(x, {})"`` for CPU ufuncs whose one body serves float32 and float64 loops.
    """

    _default_settings = {
        **PythonCodePrinter._default_settings,
        "literal": "f64({})",
        "piecewise": "ternary",  # or "select": branch-free, every branch evaluated
    }
    _sqrt = "math.sqrt"

    def _literal(self, text: str) -> str:
        return self._settings["literal"].format(text)

    def _print_constant(self, expr: sympy.Expr) -> str:
        return self._literal(repr(float(expr)))

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, sympy.Expr) and _constant(expr) and not isinstance(expr, sympy.Pow):
            return self._print_constant(expr)
        return super()._print(expr, **kwargs)

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return self._literal(f"{float(expr.p)!r}")

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return self._literal(repr(float(expr)))

    def _print_Float(self, expr: sympy.Float) -> str:
        return self._literal(repr(float(expr)))

    def _print_sign(self, expr: sympy.sign) -> str:
        """Typed, and NaN stays NaN (``x * 0``) instead of becoming 0 or +-1."""
        a = self._print(expr.args[0])
        one, zero = self._literal("1.0"), self._literal("0.0")
        return f"({one} if {a} > {zero} else (-{one} if {a} < {zero} else {a} * {zero}))"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        """``select(cond, a, b)`` chains when asked: an if/else per element cost a branch
        misprediction on mixed-sign data (measured 10x slower than NumPy on the CPU)."""
        if self._settings["piecewise"] != "select":
            return super()._print_Piecewise(expr)
        *branches, (last, _) = expr.args
        text = self._print(last)
        for value, cond in reversed(branches):
            text = f"select({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _print_Max(self, expr: sympy.Max) -> str:
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Min(self, expr: sympy.Min) -> str:
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"


@dataclass(frozen=True)
class Printed:
    """A CSE'd expression: temporaries to assign in order, then the result."""

    temps: tuple[tuple[str, str], ...]
    result: str
    constant: bool  # the result does not depend on x (the template must broadcast it)


def print_cse(expr: sympy.Expr, printer: Any, x: sympy.Symbol) -> Printed:
    """Common subexpressions as ``t0, t1, ...`` (deterministic numbering), then the result."""
    temps, (reduced,) = sympy.cse(expr, symbols=sympy.numbered_symbols("t"), order="canonical")
    return Printed(
        temps=tuple((str(lhs), printer.doprint(rhs)) for lhs, rhs in temps),
        result=printer.doprint(reduced),
        constant=not expr.has(x),
    )


def latex(expr: sympy.Expr) -> str:
    """LaTeX for the docs, from the same expressions the code printers see."""
    return LatexPrinter({"ln_notation": True}).doprint(expr)


PRINTERS: dict[str, Callable[..., Any]] = {
    "jax": lambda: JaxPrinter({"strict": True, "fully_qualified_modules": True}),
    "numba": lambda literal="f64({})", piecewise="ternary": NumbaPrinter(
        {"strict": True, "literal": literal, "piecewise": piecewise}
    ),
}

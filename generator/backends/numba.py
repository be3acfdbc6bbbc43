"""What the two Numba backends share: the ``math``-module printer with typed literals."""

from __future__ import annotations

import sympy
from sympy.printing.pycode import PythonCodePrinter

from ..printers import CodePrinterMixin


class NumbaPrinter(CodePrinterMixin, PythonCodePrinter):
    """``math``-module Python for Numba CPU and CUDA with every literal typed.

    Numba types a bare float literal as float64 and silently promotes float32 code to double
    (numba/numba#4676), so ``literal`` wraps each number: ``"_f32({})"`` for CUDA device
    functions, ``"_like(x, {})"`` for CPU ufuncs whose one body serves float32 and float64 loops.
    ``select`` names a branch-free select function to print Piecewise with (None: if/else).
    """

    sqrt_function = "math.sqrt"
    reserved_names = frozenset({"math", "abs", "max", "min"})

    def __init__(
        self,
        literal: str,
        select: str | None = None,
        quiet: bool = False,
        vector_exp: bool = False,
        compensated_exp: bool = True,
        dw_suffix: str = "",
        witness: str | None = None,
    ) -> None:
        """``quiet``: the CPU's floating-point flags matter (NumPy warns): ``Finite`` and
        ``Safe`` print as the runtime's opaque helpers ``_finite`` and ``_safe``.
        ``vector_exp``: exp prints as the CPU runtime's ``_exp`` (vectorisable in float32).
        ``compensated_exp``: exponentials of products print with the runtime's compensated
        products ``_dw_prod``, ``_dw_mul``, ``_dw_div`` and ``_dw_exp`` (names + ``dw_suffix``:
        CUDA's are per scalar type). ``witness``: a kernel computed in float64 whatever its input
        type (the CPU's widened kernels): the name of its input, passed first to ``_exp_for``,
        ``_pow_for`` and the compensated products ``_wide_*``, whose type picks their version
        (the formula's own types, float64 in both loops, do not tell)."""
        super().__init__({"strict": True})
        self.literal, self.select, self.quiet = literal, select, quiet
        self.vector_exp = vector_exp
        self.compensated_exp = compensated_exp  # type: ignore[misc]  # a ClassVar default
        self.dw_suffix = dw_suffix
        self.witness = witness

    def _print_exp_monomial(
        self, x: str, kind: int, scale: str, num: list[str], den: list[str]
    ) -> str:
        """``_dw_exp(x, scale, pair)``: the pair built by exact products and quotients."""
        s, w = self.dw_suffix, (f"{self.witness}, " if self.witness else "")
        kind_ = "_wide_" if self.witness else "_dw_"
        first, *rest = num
        second = rest.pop(0) if rest else self._literal("1.0")
        text = f"{kind_}prod{s}({w}{first}, {second})"
        for a in rest:
            text = f"{kind_}mul{s}({w}{text}, {a})"
        for d in den:
            text = f"{kind_}div{s}({w}{text}, {d})"
        return f"{kind_}exp{s}({self.witness or x}, {self._literal(scale)}, {text})"

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        """A widened kernel's general power: ``_pow_for`` (libm's float64 pow costs 5x powf)."""
        text = super()._print_Pow(expr, rational)
        if self.witness and " ** " in text and not expr.exp.is_Integer:
            base = self._print(expr.base)
            return f"_pow_for({self.witness}, {base}, {self._print(expr.exp)})"
        return text

    def _print_Finite(self, expr: sympy.Expr) -> str:
        a = self._print(expr.args[0])
        if self.quiet:
            return f"_finite({a})"
        return f"(({a}) if abs({a}) != {self._literal('math.inf')} else {self._literal('0.0')})"

    def _print_exp(self, expr: sympy.Expr) -> str:
        """The CPU's ``_exp`` (a float32 exp that vectorises; libm's for float64) where asked:
        ``math.exp`` is a libm call, which keeps a loop scalar."""
        if self.vector_exp and self.witness:
            return f"_exp_for({self.witness}, {self._print(expr.args[0])})"
        if self.vector_exp:
            return f"_exp({self._print(expr.args[0])})"
        return f"math.exp({self._print(expr.args[0])})"

    def _print_IsFinite(self, expr: sympy.Basic) -> str:
        return f"(abs({self._print(expr.args[0])}) != {self._literal('math.inf')})"

    def _print_Safe(self, expr: sympy.Expr) -> str:
        u, cond = (self._print(a) for a in expr.args)
        if self.quiet:
            return f"_safe({cond}, {u}, {self._literal('1.0')})"
        return u  # no flags to keep quiet (a GPU; the simulator evaluates only the taken branch)

    def _literal(self, text: str) -> str:
        return self.literal.format(text)

    def _print_constant(self, expr: sympy.Expr) -> str:
        return self._literal(repr(float(expr)))

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return self._literal(f"{float(expr.p)!r}")

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return self._literal(repr(float(expr)))

    def _print_Float(self, expr: sympy.Float) -> str:
        return self._literal(repr(float(expr)))

    def _print_NaN(self, expr: sympy.Expr) -> str:
        return self._literal("math.nan")

    def _print_Mod(self, expr: sympy.Mod) -> str:
        """Parenthesised: SymPy prints ``2*Mod(x, p)`` as ``2*x % p``, i.e. ``(2*x) % p``."""
        a, b = (self._print(arg) for arg in expr.args)
        return f"(({a}) % ({b}))"

    def _print_floor(self, expr: sympy.floor) -> str:
        """``a - a % 1``: Python's ``%`` floors and keeps the float type (``math.floor`` returns
        an int in Numba, which would promote float32 code and overflow beyond 2**63)."""
        a = self._print(expr.args[0])
        return f"(({a}) - ({a}) % {self._literal('1.0')})"

    def _print_sign(self, expr: sympy.sign) -> str:
        """Typed, and NaN stays NaN (``x * 0``) instead of becoming 0 or +-1."""
        a = self._print(expr.args[0])
        one, zero = self._literal("1.0"), self._literal("0.0")
        return f"({one} if {a} > {zero} else (-{one} if {a} < {zero} else {a} * {zero}))"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        """``select(cond, a, b)`` chains when asked: an if/else per element cost a branch
        misprediction on mixed-sign data (measured 10x slower than NumPy on the CPU)."""
        if self.select is None:
            return super()._print_Piecewise(expr)
        *branches, (last, _) = expr.args
        text = self._print(last)
        for value, cond in reversed(branches):
            text = f"{self.select}({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _print_Max(self, expr: sympy.Max) -> str:
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Min(self, expr: sympy.Min) -> str:
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

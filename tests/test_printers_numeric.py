"""Every printer, every whitelisted function and operator: the printed text, evaluated, equals
SymPy's own value at 30 digits (a printer that spells Min as max, or drops a parenthesis, fails).

The printed text is our own generated code (never spec text); it is compiled here the way the
generated modules run it: ``math.*`` with Python floats (Numba's printer, plain literals, with
if/else and with a branch-free ``select``), and ``jnp.*`` in float64 (JAX's printer).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

from surrogen.generator.backends.jax import JaxPrinter
from surrogen.generator.backends.numba import NumbaPrinter
from surrogen.generator.spec import Param
from surrogen.generator.symbolic import FUNCTIONS, expand_sums

jax = pytest.importorskip("jax")
jnp = jax.numpy

x = sympy.Symbol("x", real=True)
a = sympy.Symbol("alpha", positive=True)
n = sympy.Symbol("n", integer=True, positive=True)
k = sympy.Symbol("k", integer=True)
POINTS = [-2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 1.7, 3.0]
ALPHA = 1.3
# An integer parameter, the bound of a Sum: unrolled to its max (4) with the terms beyond its min
# (1) masked by its value, as the generated modules print it; N = 3 keeps terms and drops one.
N_PARAM = Param(name="n", default=2, domain="integer", doc="Terms.", min=1, max=4)
N = 3

# Each whitelisted function with arguments that stay in its domain at every point.
EXPRESSIONS = {
    "exp": sympy.exp(-a * x / 3),
    "log": sympy.log(x + 4),
    "sqrt": sympy.sqrt(x + 4),
    "sin": sympy.sin(a * x),
    "cos": sympy.cos(a * x),
    "tanh": sympy.tanh(a * x),
    "cosh": sympy.cosh(x / 2),
    "atan": sympy.atan(a * x),
    "erf": sympy.erf(a * x),
    "erfc": sympy.erfc(a * x),
    "Abs": sympy.Abs(x - 1) * a,
    "sign": sympy.sign(x - sympy.Rational(1, 2)) + 2 * sympy.sign(x),
    "Max": sympy.Max(x, 1 - x, x / 2 + sympy.Rational(1, 4)),
    "Min": sympy.Min(x, 1 - x, x / 2 + sympy.Rational(1, 4)),
    "Piecewise": sympy.Piecewise((x**2, x < -1), (1 - x, x <= 1), (a * x**3, True)),
    # no point puts x/alpha or -3x/2 on an integer (where Mod jumps) except 0, which is exact;
    # the factors check the parentheses (SymPy's own printers write 2*Mod(x, a) as 2*x % a).
    "Mod": 2 * sympy.Mod(x, a) - sympy.Mod(-3 * x / 2, 1),
    "floor": 2 * sympy.floor(a * x) - x * sympy.floor(-x / 2),
    "Sum": sympy.Sum(sympy.cos((2 * k - 1) * a * x) / (2 * k - 1), (k, 1, n)),
}
OPERATORS = {
    "division by a power": a / (1 + sympy.exp(-a * x)) ** 2,
    "negative power": (x**2 + 1) ** -3,
    "half powers": sympy.sqrt(x**2 + 1) + 1 / sympy.sqrt(x**2 + 2),
    "rational power": (x**2 + 1) ** sympy.Rational(5, 2),
    "constants": sympy.pi * x + sympy.E + sympy.sqrt(2) * a,
    "nested": a * sympy.exp(-(a**2) * x**2) / sympy.sqrt(sympy.pi) - sympy.Rational(3, 20) * x,
}


def test_every_whitelisted_function_is_exercised():
    assert set(EXPRESSIONS) == set(FUNCTIONS)


def _exact(expr: sympy.Expr) -> np.ndarray:
    """SymPy's value at 30 digits (a Sum at n = N summed by SymPy, not unrolled)."""
    values = {a: sympy.Float(ALPHA, 30), n: N}
    return np.array(
        [float(expr.subs({x: sympy.Float(v, 30), **values}).doit().evalf(30)) for v in POINTS]
    )


def _printable(expr: sympy.Expr) -> sympy.Expr:
    """What the generated modules print: a Sum unrolled, its terms masked by the bound."""
    return expand_sums(expr, {n: N_PARAM})


def _numba_values(expr: sympy.Expr, select: str | None) -> np.ndarray:
    text = NumbaPrinter("{}", select).doprint(_printable(expr))
    env = {"math": math, "select": lambda c, p, q: p if c else q}
    f = eval(f"lambda x, alpha, n: {text}", env)  # our own printed code, not spec text
    return np.array([f(v, ALPHA, float(N)) for v in POINTS])


def _jax_values(expr: sympy.Expr) -> np.ndarray:
    text = JaxPrinter().doprint(_printable(expr))
    f = eval(f"lambda x, alpha, n: {text}", {"jnp": jnp, "jax": jax})  # our own printed code
    with jax.enable_x64(True):
        args = jnp.asarray(POINTS, jnp.float64), jnp.float64(ALPHA), jnp.float64(N)
        return np.asarray(f(*args), np.float64)


CASES = {**EXPRESSIONS, **OPERATORS}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("printer", ["numba if/else", "numba select", "jax"])
def test_printed_text_evaluates_to_sympys_value(case, printer):
    expr = CASES[case]
    want = _exact(expr)
    if printer == "jax":
        got = np.broadcast_to(_jax_values(expr), want.shape)
    else:
        got = _numba_values(expr, "select" if printer == "numba select" else None)
    # float64 evaluation of a handful of operations: 1e-13 (450 eps) is far above their rounding
    # and far below any wrong operator, branch or literal (which is off by O(1)).
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15, err_msg=f"{printer}: {case}")

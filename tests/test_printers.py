"""Printers: exact strings for the cases that matter, and every whitelisted function printable."""

import re

import pytest
import sympy

from surrogen.generator.backends.docs import latex
from surrogen.generator.backends.jax import JaxPrinter
from surrogen.generator.backends.numba import NumbaPrinter
from surrogen.generator.printers import print_cse
from surrogen.generator.spec import Param
from surrogen.generator.symbolic import CONSTANTS, FUNCTIONS, expand_sums

x = sympy.Symbol("x", real=True)
a = sympy.Symbol("alpha", positive=True)


def numba(literal="f32({})"):
    return NumbaPrinter(literal)


def jaxp():
    return JaxPrinter()


@pytest.mark.parametrize(
    "expr, numba_text, jax_text",
    [
        (
            sympy.Max(0, 1 - sympy.Abs(x)),
            "max(f32(0.0), f32(1.0) - abs(x))",
            "jnp.maximum(0, 1 - jnp.abs(x))",
        ),
        (
            1 / (1 + sympy.exp(-a * x)),
            "(f32(1.0) / (f32(1.0) + math.exp(-alpha*x)))",
            "(1 / (1 + jnp.exp(-alpha*x)))",
        ),
        (a * x**2, "alpha*(x * x)", "alpha*(x * x)"),
        (sympy.sqrt(x), "math.sqrt(x)", "jnp.sqrt(x)"),
        (sympy.Rational(3, 20) * x, "(f32(0.15))*x", "(0.15)*x"),
        (sympy.sqrt(sympy.pi) * x, "f32(1.772453850905516)*x", "1.772453850905516*x"),
        (
            sympy.Piecewise((0, x < -1), (x, x < 1), (1, True)),
            "((f32(0.0)) if (x < f32(-1.0)) else (x) if (x < f32(1.0)) else (f32(1.0)))",
            "jnp.where(jnp.less(x, -1), 0, jnp.where(jnp.less(x, 1), x, 1))",
        ),
        (sympy.erf(x), "math.erf(x)", "jax.lax.erf(x)"),
    ],
)
def test_exact_text(expr, numba_text, jax_text):
    assert numba().doprint(expr) == numba_text
    assert jaxp().doprint(expr) == jax_text


def test_division_by_a_power_keeps_its_parentheses():
    # SymPy's Mul printer sees a Pow (binds tighter than /): a/(b*b) must not print as a/b * b.
    e = a / (1 + sympy.exp(-a * x)) ** 2
    text = numba("{}").doprint(e)
    assert text == "alpha/((1.0 + math.exp(-alpha*x)) * (1.0 + math.exp(-alpha*x)))"
    f = eval(f"lambda x, alpha: {text}", {"math": __import__("math")})  # our own printed text
    assert f(0.3, 4.0) == pytest.approx(float(e.subs({x: 0.3, a: 4.0})), rel=1e-15)


def test_mod_keeps_its_parentheses_and_floor_stays_a_float():
    """SymPy's Python printers print 2*Mod(x, p) as ``2*x % p``, which Python reads as (2*x) % p;
    Numba's math.floor returns an int (promoting float32 code), so floor prints as a - a % 1."""
    e = 2 * sympy.Mod(x, a) + sympy.floor(x / a)
    text = numba("{}").doprint(e)
    f = eval(f"lambda x, alpha: {text}", {"math": __import__("math")})  # our own printed text
    for value in (0.3, 2.7, -2.7, 7.9):
        want = 2 * (value % 2.5) + (value // 2.5)
        assert f(value, 2.5) == pytest.approx(want, rel=1e-15), (value, text)
    assert "math.floor" not in text
    assert jaxp().doprint(2 * sympy.Mod(x, a)) == "2*(jnp.mod(x, alpha))"


def test_every_numba_literal_is_typed():
    """No bare float literal reaches Numba code (numba/numba#4676: it would promote to float64)."""
    e = (
        sympy.Rational(1, 2) * sympy.exp(-(x**2) / 3)
        + 2.5 * sympy.atan(sympy.pi * x)
        + sympy.sign(x)
    )
    text = numba().doprint(e)
    bare = re.sub(r"f32\([^()]*\)", "", text)
    assert not re.search(r"(?<![\w.])\d+(\.\d+)?(e[-+]?\d+)?(?![\w(])", bare), text


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_whitelisted_function_prints_strictly(name):
    """strict=True: an unsupported node would raise here, at generation time."""
    fn = FUNCTIONS[name]
    if name == "Piecewise":
        expr = fn((x, x < 0), (1, True))
    elif name in ("Max", "Min"):
        expr = fn(x, 1 - x)
    elif name == "Mod":
        expr = 2 * fn(x + 2, a)
    elif name == "Sum":  # printed unrolled: the backends never see a Sum node
        k = sympy.Symbol("k", integer=True)
        n = sympy.Symbol("n", integer=True)
        param = Param("n", 2, "integer", "terms", min=1, max=4)
        expr = expand_sums(fn(sympy.sin(k * x) / k, (k, 1, n)), {n: param})
        assert not expr.has(sympy.Sum) and expr.has(sympy.Piecewise)
    else:
        expr = fn(x + 2)
    for printer in (numba(), numba("like(x, {})"), jaxp()):
        assert printer.doprint(expr)
    assert latex(expr)


def test_constants_print_as_literals():
    for value in CONSTANTS.values():
        assert numba().doprint(value * x) == f"f32({float(value)!r})*x"


def test_cse_numbering_is_deterministic():
    e = sympy.exp(-a * sympy.Abs(x)) / (1 + sympy.exp(-a * sympy.Abs(x))) ** 2
    first = print_cse(e, jaxp(), x)
    assert first == print_cse(e, jaxp(), x)
    assert [lhs for lhs, _ in first.temps] == [f"_t{i}" for i in range(len(first.temps))]
    assert not first.constant and print_cse(sympy.Integer(1), jaxp(), x).constant


def test_branch_free_piecewise_for_numba_cpu():
    e = sympy.Piecewise((0, x < -1), (1 - sympy.Abs(x), x <= 1), (0, True))
    text = NumbaPrinter("like(x, {})", "select").doprint(e)
    assert text == (
        "select((x < like(x, -1.0)), like(x, 0.0),"
        " select((x <= like(x, 1.0)), like(x, 1.0) - abs(x), like(x, 0.0)))"
    )


# --- the PyTorch printer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, text",
    [
        (1 / (1 + sympy.exp(-a * x)), "(1 / (1 + torch.exp(-alpha*x)))"),
        (a * x**2, "alpha*(x * x)"),
        (1 / (1 + a * sympy.Abs(x)) ** 2, "(1 / torch.square(alpha*torch.abs(x) + 1))"),
        (sympy.sqrt(sympy.pi) * x, "1.772453850905516*x"),
        # where(c, 0, 1) of two numbers would be float32 in torch: the first becomes x's dtype.
        (
            sympy.Piecewise((0, x < -1), (x, x < 1), (1, True)),
            "torch.where(torch.lt(x, -1), 0, torch.where(torch.lt(x, 1), x, 1))",
        ),
        (
            sympy.Piecewise((sympy.Rational(1, 10), x < 0), (1, True)),
            "torch.where(torch.lt(x, 0), x.new_tensor(0.1), 1)",
        ),
        (sympy.Max(0, 1 - sympy.Abs(x)), "torch.clamp(1 - torch.abs(x), min=0)"),
        (sympy.Min(x, a), "torch.minimum(alpha, x)"),
        (sympy.erfc(a * x), "torch.erfc(alpha*x)"),
        (sympy.And(x < 1, x > -1), "torch.logical_and(torch.gt(x, -1), torch.lt(x, 1))"),
    ],
)
def test_torch_exact_text(expr, text):
    from surrogen.generator.backends.torch import TorchPrinter

    assert TorchPrinter().doprint(expr) == text


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_whitelisted_function_prints_for_torch(name):
    """Every function of the spec language has a torch spelling (strict: no fallback)."""
    from surrogen.generator.backends.torch import TorchPrinter

    fn = FUNCTIONS[name]
    if name == "Sum":
        pytest.skip("a finite Sum is unrolled before any printer sees it (model.expanded)")
    if name == "Piecewise":
        expr = fn((x, x < 0), (1, True))
    elif name in ("Max", "Min", "Mod"):
        expr = fn(x, 1 - x) if name != "Mod" else fn(x, a)
    else:
        expr = fn(x + 2)
    text = TorchPrinter().doprint(expr)
    assert text.startswith("torch.") and "math." not in text and "numpy" not in text, text


@pytest.mark.parametrize(
    "value, guarded",
    [
        (a * x - a**2 * x**3 / 3, True),  # oo - oo at both ends
        (x * sympy.exp(x), True),  # 0*oo at -oo
        (x / (1 + x**2), True),  # oo/oo
        (x / a + sympy.Rational(1, 2), False),  # +-oo: no invalid operation
        (a - a**2 * x**2, False),
    ],
)
def test_bounded_branch_sees_x_only_where_taken(value, guarded):
    """A branch taken for |x| <= 1/alpha only, whose value is undefined at x = +-inf as written,
    computes with ``Safe(x, taken)``; a branch that is finite or merely infinite there, or one
    taken at infinity, keeps x (each Safe is a select in the hot loop)."""
    from surrogen.generator.printers import Safe, speculation_safe

    expr = sympy.Piecewise((0, x < -1 / a), (value, x <= 1 / a), (x**2 - x, True))
    out = speculation_safe(expr, x)
    inner, last = out.args[1][0], out.args[2][0]
    assert any(isinstance(s, Safe) and s.args[0] == x for s in inner.atoms(Safe)) == guarded
    assert last == x**2 - x  # taken at x = +inf: never rewritten
    assert inner.subs({s: s.args[0] for s in inner.atoms(Safe)}) == value

"""The spec-expression parser: only whitelisted names and syntax, exact numbers, nothing executed.

``generator.symbolic`` translates ``ast`` nodes itself; these tests pin the whitelist, the exact
error text for hostile input, and that no ``eval`` path (``sympify``, ``parse_expr``, ``eval``,
``exec``) is ever taken while building a model.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType

import pytest
import sympy
import sympy.parsing.sympy_parser
from sympy.core.sympify import sympify as core_sympify

from surrogen.generator.spec import Backward, Param, Spec, SpecError, load_specs
from surrogen.generator.symbolic import CONSTANTS, FUNCTIONS, X, build_model, parse_expression

ROOT = Path(__file__).resolve().parents[1]
K = sympy.Symbol("k", integer=True)  # a Sum's index
WHERE = "specs/t.yaml: origin"
FUNCTION_LIST = (
    "Abs, Max, Min, Mod, Piecewise, Sum, atan, cos, cosh, erf, erfc, exp, floor, log, sign, sin,"
    " sqrt, tanh"
)
ONLY = (
    " is not allowed (only numbers, x, the parameters, pi, E, + - * / **, comparisons, & | and"
    f" the functions {FUNCTION_LIST})"
)
NOT_A_FUNCTION = f" is not allowed (functions: {FUNCTION_LIST})"


def _parse(text: str, **symbols: sympy.Symbol) -> sympy.Expr:
    return parse_expression(text, {"x": X, **symbols}, WHERE)


def _spec(origin: str, backward: str, params: dict[str, str] | None = None) -> Spec:
    """A Spec built in memory: ``params`` maps name -> domain (default 2, or 0.5 if nonnegative)."""
    return Spec(
        name="t",
        title="T",
        summary="S.",
        params=tuple(
            Param(name, 0.5 if domain == "nonnegative" else 2, domain, "d.")
            for name, domain in (params or {}).items()
        ),
        origin=origin,
        backward=(Backward(source="src", expr=backward, expect="match", note=""),),
        grad_impl=None,
        origin_impl=None,
        properties=(),
        references=(),
        notes="",
        path="specs/t.yaml",
        class_name="T",
    )


# --- whitelisted names ---------------------------------------------------------------------------


def test_function_whitelist_is_pinned() -> None:
    """A function added to the whitelist must be added to these tests (and reviewed) too."""
    assert ", ".join(sorted(FUNCTIONS)) == FUNCTION_LIST
    assert set(CONSTANTS) == {"pi", "E"}


def test_sympy_names_declared_as_parameters_stay_plain_symbols() -> None:
    params = {
        "beta": "positive",
        "gamma": "real",
        "factor": "nonnegative",
        "S": "real",
        "N": "real",
    }
    model = build_model(
        _spec(
            origin="beta*gamma*factor*S*N*x + exp(-beta*x**2)",
            backward="beta*gamma*factor*S*N - 2*beta*x*exp(-beta*x**2)",
            params=params,
        )
    )
    assert [s.name for s in model.params] == list(params)
    for symbol in model.params:
        assert type(symbol) is sympy.Symbol  # not sympy.gamma, sympy.beta, sympy.S, sympy.N
        assert not isinstance(symbol, sympy.FunctionClass)
    assert model.params[0].is_positive and model.params[2].is_nonnegative
    assert model.origin.free_symbols == {X, *model.params}
    # The only function in the origin is exp: gamma/beta were not read as SymPy's functions.
    assert {type(f) for f in model.origin.atoms(sympy.Function)} == {sympy.exp}
    assert model.grad == model.backward[0]
    symbols = {s.name: s for s in model.params}
    for name, symbol in symbols.items():
        assert _parse(name, **symbols) is symbol


@pytest.mark.parametrize(
    "ident",
    [
        "gamma",
        "beta",
        "S",
        "N",
        "I",
        "oo",
        "zoo",
        "nan",
        "Symbol",
        "Integer",
        "Function",
        "sympify",
        "Heaviside",
        "DiracDelta",
        "os",
        "sys",
        "print",
        "__builtins__",
        "__name__",
    ],
)
def test_undeclared_sympy_and_python_names_are_rejected(ident: str) -> None:
    with pytest.raises(SpecError) as err:
        _parse(f"{ident} * x")
    assert str(err.value) == (
        f"{WHERE}: undeclared symbol {ident!r} (declared: ['x']; constants: pi, E)"
    )


@pytest.mark.parametrize("ident", ["gamma", "beta", "N", "factorial", "Heaviside"])
def test_non_whitelisted_function_is_rejected_even_if_declared(ident: str) -> None:
    symbol = sympy.Symbol(ident, real=True)
    with pytest.raises(SpecError) as err:
        _parse(f"{ident}(x)", **{ident: symbol})
    assert str(err.value) == f"{WHERE}: function {ident!r}{NOT_A_FUNCTION}"


EVERY_FUNCTION = {
    "exp": ("exp(-x)", sympy.exp(-X)),
    "log": ("log(x**2 + 1)", sympy.log(X**2 + 1)),
    "sqrt": ("sqrt(x**2 + 1)", sympy.sqrt(X**2 + 1)),
    "sin": ("sin(x)", sympy.sin(X)),
    "cos": ("cos(x)", sympy.cos(X)),
    "tanh": ("tanh(x)", sympy.tanh(X)),
    "cosh": ("cosh(x)", sympy.cosh(X)),
    "atan": ("atan(x)", sympy.atan(X)),
    "erf": ("erf(x)", sympy.erf(X)),
    "erfc": ("erfc(x)", sympy.erfc(X)),
    "Abs": ("Abs(x)", sympy.Abs(X)),
    "sign": ("sign(x)", sympy.sign(X)),
    "Max": ("Max(x, 0)", sympy.Max(X, 0)),
    "Min": ("Min(x, 1)", sympy.Min(X, 1)),
    "Piecewise": (
        "Piecewise((0, x < -1), (x + 1, (x >= -1) & (x < 0)), (1, True))",
        sympy.Piecewise((0, X < -1), (X + 1, (X >= -1) & (X < 0)), (1, True)),
    ),
    "Mod": ("Mod(x, 2)", sympy.Mod(X, 2)),
    "floor": ("floor(x/2)", sympy.floor(X / 2)),
    "Sum": (
        "Sum(sin(k*x)/k, (k, 1, 3))",
        sympy.Sum(sympy.sin(K * X) / K, (K, 1, 3)),
    ),
}


def test_every_whitelisted_function_is_covered() -> None:
    assert set(EVERY_FUNCTION) == set(FUNCTIONS)


@pytest.mark.parametrize("ident", sorted(EVERY_FUNCTION))
def test_every_whitelisted_function_parses(ident: str) -> None:
    text, expected = EVERY_FUNCTION[ident]
    assert _parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pi * x + E", sympy.pi * X + sympy.E),
        ("-x + +x - x**2 * 3 / 4", -3 * X**2 / 4),
        (
            "Piecewise((1, -1 <= x <= 1), (0, True))",
            sympy.Piecewise((1, (X >= -1) & (X <= 1)), (0, True)),
        ),
        (
            "Piecewise((1, (x < -1) | (x > 1)), (0, True))",
            sympy.Piecewise((1, (X < -1) | (X > 1)), (0, True)),
        ),
        (
            "Piecewise((1, x > 0 and x < 2), (0, True))",
            sympy.Piecewise((1, (X > 0) & (X < 2)), (0, True)),
        ),
        ("Piecewise((x, x != 0), (1, True))", sympy.Piecewise((X, sympy.Ne(X, 0)), (1, True))),
    ],
)
def test_operators_and_conditions(text: str, expected: sympy.Expr) -> None:
    assert _parse(text) == expected


# --- exact numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.15", sympy.Rational(3, 20)),
        ("0.1 + 0.2", sympy.Rational(3, 10)),
        ("1e-3", sympy.Rational(1, 1000)),
        ("2.5e2", sympy.Integer(250)),
        ("1.0", sympy.Integer(1)),
        ("3", sympy.Integer(3)),
        ("1_000.5", sympy.Rational(2001, 2)),
        ("0.3333333333333333333333", sympy.Rational(3333333333333333333333, 10**22)),
    ],
)
def test_decimal_literals_are_exact_rationals(text: str, expected: sympy.Rational) -> None:
    value = _parse(text)
    assert value == expected
    assert isinstance(value, sympy.Rational)
    assert not _parse(f"{text} * x").atoms(sympy.Float)


def test_decimal_coefficient_stays_exact_in_a_model() -> None:
    model = build_model(
        _spec("Piecewise((0.15 * x, x > 0), (0, True))", "Piecewise((0.15, x > 0), (0, True))")
    )
    assert model.backward[0] == sympy.Piecewise((sympy.Rational(3, 20), X > 0), (0, True))
    assert not model.origin.atoms(sympy.Float)


# --- hostile input -------------------------------------------------------------------------------

HOSTILE = [
    # SymPy evaluates numeric powers exactly: without a limit this would never return.
    ("x + 10**10**10", "exponent 10000000000 is too large (|exponent| <= 64)"),
    ("-~x", "not a valid expression (bad operand type for unary -: 'Not')"),
    ("+".join(["x"] * 20000), "expression is too long (39999 > 4000 characters)"),
    (
        "__import__('os').system('echo owned > owned.txt')",
        "attribute access ('.system') is not allowed",
    ),
    ("__import__('os')", f"function '__import__'{NOT_A_FUNCTION}"),
    ("x.__class__", f"attribute access ('.__class__'){ONLY}"),
    (
        "x.__class__.__mro__[1].__subclasses__()",
        "attribute access ('.__subclasses__') is not allowed",
    ),
    (
        "().__class__.__bases__[0].__subclasses__()",
        "attribute access ('.__subclasses__') is not allowed",
    ),
    ("exp.__globals__['__builtins__']", f"subscripting{ONLY}"),
    ("Piecewise((x, x < 0), (1, True)).args", f"attribute access ('.args'){ONLY}"),
    ("x[0]", f"subscripting{ONLY}"),
    ("(lambda: x)()", "lambda is not allowed"),
    ("lambda: x", f"lambda{ONLY}"),
    ("[i for i in (x,)]", f"syntax ListComp{ONLY}"),
    ("(i for i in (x,))", f"syntax GeneratorExp{ONLY}"),
    ("f'{x}'", f"f-string{ONLY}"),
    ("exp(x=1)", "keyword arguments in exp(...) are not allowed"),
    ("Max(x, *[1])", f"star-arguments{ONLY}"),
    ("(y := x)", f"assignment{ONLY}"),
    ("x if x > 0 else 0", f"if-expression (use Piecewise){ONLY}"),
    ("eval('1')", f"function 'eval'{NOT_A_FUNCTION}"),
    ("open('owned.txt', 'w')", f"function 'open'{NOT_A_FUNCTION}"),
    ("exec('import os')", f"function 'exec'{NOT_A_FUNCTION}"),
    ("getattr(x, '__class__')", f"function 'getattr'{NOT_A_FUNCTION}"),
    ("foo(x)", f"function 'foo'{NOT_A_FUNCTION}"),
    ("exp(x)(x)", "calling the result of an expression is not allowed"),
    ("exp", "function 'exp' must be called"),
    ("'x'", "literal 'x' is not allowed (only numbers)"),
    ("b'x'", "literal b'x' is not allowed (only numbers)"),
    ("1j", "literal 1j is not allowed (only numbers)"),
    ("None", "literal None is not allowed (only numbers)"),
    ("x ^ 2", "'^' is not allowed: write powers as **"),
    ("x % 2", "operator Mod is not allowed"),
    ("x @ x", "operator MatMult is not allowed"),
    ("x is x", "comparison Is is not allowed"),
    ("x in (x,)", "comparison In is not allowed"),
    ("x; import os", "cannot parse 'x; import os': invalid syntax"),
    ("x\nimport os", "cannot parse 'x\\nimport os': invalid syntax"),
    ("x < 1", "must be a real-valued expression, got a condition"),
    ("1/0", "expression is undefined (division by zero or infinity)"),
    (
        "Piecewise((x, x < 0))",
        "Piecewise needs a last (expression, True) pair so it is defined everywhere",
    ),
    ("Piecewise(x)", "Piecewise takes (expression, condition) pairs"),
    ("sign(x, x)", "sign(...) with 2 argument(s): sign takes exactly 1 argument (2 given)"),
]


class ExecutedSpecText(AssertionError):
    """Raised (and recorded) when an eval path is taken."""


@pytest.fixture
def no_eval(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """Replace every eval path with a trap; the test fails if any was called, even if swallowed."""
    calls: list[str] = []

    real_exec = builtins.exec

    def trap(name: str) -> Callable[..., object]:
        def forbidden(*args: object, **kwargs: object) -> object:
            code = args[0] if args else None
            if name == "exec" and isinstance(code, CodeType) and Path(code.co_filename).is_file():
                return real_exec(*args, **kwargs)  # a lazy module import inside SymPy
            caller = sys._getframe(1).f_globals.get("__name__")
            if name == "exec" and caller == "sympy.polys.monomials":
                # SymPy's polynomial code builds monomial_mul & co. from its own fixed template
                # (solving a kink equation with Mod needs it); no spec text reaches it.
                return real_exec(*args, **kwargs)
            calls.append(f"{name}{args!r:.80}")
            raise ExecutedSpecText(f"{name} called with {args!r:.80}")

        return forbidden

    monkeypatch.setattr(sympy, "sympify", trap("sympy.sympify"))
    monkeypatch.setattr(sympy, "parse_expr", trap("sympy.parse_expr"))
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", trap("sympy_parser.parse_expr"))
    monkeypatch.setattr(builtins, "eval", trap("eval"))
    monkeypatch.setattr(builtins, "exec", trap("exec"))
    monkeypatch.chdir(tmp_path)
    yield calls
    assert calls == [], f"spec text reached an eval path: {calls}"
    assert list(tmp_path.iterdir()) == [], "a hostile expression wrote into the cwd"


def test_eval_traps_are_armed(no_eval: list[str]) -> None:
    """The fixture really catches SymPy's string path (sympify -> parse_expr -> eval)."""
    calls = [
        lambda: sympy.sympify("x"),
        lambda: sympy.parse_expr("x"),
        lambda: core_sympify("x + 1"),  # SymPy's own string path, not patched itself
        lambda: eval("1"),
        lambda: exec("y = 1"),
        lambda: exec(compile("y = 1", "<spec>", "exec")),
    ]
    for call in calls:
        with pytest.raises(ExecutedSpecText):
            call()
    assert len(no_eval) == len(calls)
    no_eval.clear()


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_hostile_expression_is_rejected(text: str, message: str, no_eval: list[str]) -> None:
    with pytest.raises(SpecError) as err:
        _parse(text)
    assert str(err.value) == f"{WHERE}: {message}"


@pytest.mark.parametrize("field", ["origin", "backward"])
def test_hostile_spec_is_rejected_by_build_model(field: str, no_eval: list[str]) -> None:
    good, bad = "1 / (1 + exp(-x))", "__import__('os').system('echo owned > owned.txt')"
    spec = _spec(bad, good) if field == "origin" else _spec(good, bad)
    with pytest.raises(SpecError) as err:
        build_model(spec)
    where = "origin" if field == "origin" else "backward[0].expr"
    assert str(err.value) == f"specs/t.yaml: {where}: attribute access ('.system') is not allowed"


@pytest.mark.parametrize("spec", load_specs(ROOT / "specs"), ids=lambda s: s.name)
def test_real_specs_build_without_eval_and_with_exact_numbers(
    spec: Spec, no_eval: list[str]
) -> None:
    model = build_model(spec)
    exprs = [model.origin, model.grad, *model.backward, model.grad_impl, model.origin_impl]
    for expr in exprs:
        if expr is not None:
            assert not expr.atoms(sympy.Float), expr
            assert expr.free_symbols <= {X, *model.params}


@pytest.mark.parametrize("builtin", ["abs", "max", "min", "float"])
def test_parameter_may_not_shadow_a_builtin_used_by_printed_code(
    builtin: str, tmp_path: Path
) -> None:
    from surrogen.generator.backends import reserved_names
    from surrogen.generator.spec import load_spec

    spec = tmp_path / "shadow.yaml"
    spec.write_text(
        "name: shadow\ntitle: t\nsummary: s\n"
        f"params:\n  {builtin}: {{default: 1.0, doc: d}}\n"
        "origin: x\nbackward:\n  - {source: s, expr: '1'}\n"
    )
    with pytest.raises(
        SpecError, match=rf"params.{builtin}: parameter name '{builtin}' is used by the generated"
    ):
        load_spec(spec, reserved=reserved_names())

"""Stage 2: Spec -> SurrogateModel (SymPy expressions, derivative, breakpoints).

Spec text is never handed to ``sympify``/``parse_expr`` (both ``eval``): it is parsed with
``ast.parse`` and translated node by node, and only the operators, names and functions listed here
are accepted. Anything else (attribute access, subscripts, strings, lambdas, keyword arguments,
undeclared names) is a ``SpecError`` before any SymPy object is built.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from .spec import Spec, SpecError

X = sympy.Symbol("x", real=True)

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tanh": sympy.tanh,
    "cosh": sympy.cosh,
    "atan": sympy.atan,
    "erf": sympy.erf,
    "erfc": sympy.erfc,
    "Abs": sympy.Abs,
    "sign": sympy.sign,
    "Max": sympy.Max,
    "Min": sympy.Min,
    "Piecewise": sympy.Piecewise,
}
CONSTANTS: dict[str, sympy.Basic] = {"pi": sympy.pi, "E": sympy.E}
MAX_EXPONENT = 64
MAX_LENGTH = 4000  # characters of one expression: a spec formula is a line or two

_ASSUMPTIONS = {
    "positive": {"positive": True},
    "nonnegative": {"nonnegative": True, "real": True},
    "real": {"real": True},
    "integer": {"integer": True},
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
    ast.BitAnd: lambda a, b: sympy.And(a, b),
    ast.BitOr: lambda a, b: sympy.Or(a, b),
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: sympy.Lt,
    ast.LtE: sympy.Le,
    ast.Gt: sympy.Gt,
    ast.GtE: sympy.Ge,
    ast.Eq: sympy.Eq,
    ast.NotEq: sympy.Ne,
}


class _Translator:
    """ast -> SymPy for the whitelisted subset; raises ValueError with a user-facing message."""

    def __init__(self, text: str, symbols: dict[str, sympy.Symbol]) -> None:
        self.text, self.symbols = text, symbols

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ValueError(
                f"{_describe(node)} is not allowed (only numbers, x, the parameters, pi, E,"
                f" + - * / **, comparisons, & | and the functions {allowed})"
            )
        return method(node)

    def _Constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool):
            return sympy.true if value else sympy.false
        if isinstance(value, int):
            return sympy.Integer(value)
        if isinstance(value, float):
            # Exact decimal: 0.15 stays 3/20, so symbolic checks see the number the spec wrote.
            return sympy.Rational(ast.get_source_segment(self.text, node) or repr(value))
        raise ValueError(f"literal {value!r} is not allowed (only numbers)")

    def _Name(self, node: ast.Name) -> Any:
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise ValueError(f"function {node.id!r} must be called")
        declared = sorted(self.symbols)
        raise ValueError(f"undeclared symbol {node.id!r} (declared: {declared}; constants: pi, E)")

    def _BinOp(self, node: ast.BinOp) -> Any:
        if isinstance(node.op, ast.BitXor):
            raise ValueError("'^' is not allowed: write powers as **")
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        # SymPy computes numeric powers exactly: 10**10**10 would never finish.
        if (
            isinstance(node.op, ast.Pow)
            and isinstance(right, sympy.Number)
            and abs(right) > MAX_EXPONENT
        ):
            raise ValueError(f"exponent {right} is too large (|exponent| <= {MAX_EXPONENT})")
        return op(left, right)

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not | ast.Invert):
            return sympy.Not(operand)
        raise ValueError(f"operator {type(node.op).__name__} is not allowed")

    def _Compare(self, node: ast.Compare) -> Any:
        left, parts = self.visit(node.left), []
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            make = _COMPARE.get(type(op))
            if make is None:
                raise ValueError(f"comparison {type(op).__name__} is not allowed")
            right = self.visit(right_node)
            parts.append(make(left, right))
            left = right
        return sympy.And(*parts)

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.visit(v) for v in node.values]
        return sympy.And(*values) if isinstance(node.op, ast.And) else sympy.Or(*values)

    def _Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise ValueError(f"{_describe(node.func)} is not allowed")
        if node.func.id not in FUNCTIONS:
            raise ValueError(
                f"function {node.func.id!r} is not allowed"
                f" (functions: {', '.join(sorted(FUNCTIONS))})"
            )
        if node.keywords:
            raise ValueError(f"keyword arguments in {node.func.id}(...) are not allowed")
        name = node.func.id
        if name == "Piecewise":
            return self._piecewise(node)
        args = [self.visit(a) for a in node.args]
        try:
            return FUNCTIONS[name](*args)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}(...) with {len(args)} argument(s): {err}") from None

    def _piecewise(self, node: ast.Call) -> Any:
        pairs = []
        for arg in node.args:
            if not isinstance(arg, ast.Tuple) or len(arg.elts) != 2:
                raise ValueError("Piecewise takes (expression, condition) pairs")
            pairs.append((self.visit(arg.elts[0]), self.visit(arg.elts[1])))
        if not pairs or pairs[-1][1] is not sympy.true:
            raise ValueError(
                "Piecewise needs a last (expression, True) pair so it is defined everywhere"
            )
        try:
            return sympy.Piecewise(*pairs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"Piecewise: {err}") from None


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access",
        "Subscript": "subscripting",
        "Lambda": "lambda",
        "Starred": "star-arguments",
        "JoinedStr": "f-string",
        "IfExp": "if-expression (use Piecewise)",
        "NamedExpr": "assignment",
    }
    kind = type(node).__name__
    if isinstance(node, ast.Attribute):
        return f"attribute access ('.{node.attr}')"
    if isinstance(node, ast.Call):
        return "calling the result of an expression"
    return names.get(kind, f"syntax {kind}")


def parse_expression(text: str, symbols: dict[str, sympy.Symbol], where: str) -> sympy.Expr:
    """Translate spec text to SymPy; ``where`` is ``"<path>: <field>"`` for error messages."""
    if len(text) > MAX_LENGTH:
        raise SpecError(f"{where}: expression is too long ({len(text)} > {MAX_LENGTH} characters)")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise SpecError(f"{where}: cannot parse {text!r}: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise SpecError(f"{where}: expression is nested too deeply") from None
    try:
        expr = _Translator(text.strip(), symbols).visit(tree.body)
    except ValueError as err:
        raise SpecError(f"{where}: {err}") from None
    except (TypeError, AttributeError) as err:  # e.g. -~x: SymPy cannot negate a condition
        raise SpecError(f"{where}: not a valid expression ({err})") from None
    except RecursionError:
        raise SpecError(f"{where}: expression is nested too deeply") from None
    boolean = (sympy.logic.boolalg.BooleanFunction, sympy.logic.boolalg.BooleanAtom, sympy.Rel)
    if not isinstance(expr, sympy.Expr) or isinstance(expr, boolean):
        raise SpecError(f"{where}: must be a real-valued expression, got a condition")
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise SpecError(f"{where}: expression is undefined (division by zero or infinity)")
    return expr


@dataclass(frozen=True)
class SurrogateModel:
    """The symbolic model of one surrogate; every expression is in ``x`` and ``params``."""

    spec: Spec
    x: sympy.Symbol
    params: tuple[sympy.Symbol, ...]
    origin: sympy.Expr
    grad: sympy.Expr  # d(origin)/dx exactly as SymPy differentiates it
    backward: tuple[sympy.Expr, ...]  # the spec's documented formulas, in order
    grad_impl: sympy.Expr | None
    origin_impl: sympy.Expr | None
    breakpoints: tuple[sympy.Expr, ...]  # x where a branch, Abs, sign, Max or Min switches

    @property
    def defaults(self) -> dict[sympy.Symbol, float]:
        return {s: p.default for s, p in zip(self.params, self.spec.params, strict=True)}


def _kink_equations(expr: sympy.Expr, x: sympy.Symbol) -> list[sympy.Expr]:
    """Expressions whose zeros in x are where ``expr`` may switch form."""
    eqs: list[sympy.Expr] = []
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sympy.core.relational.Relational):
                    eqs.append(rel.lhs - rel.rhs)
        elif isinstance(node, sympy.Abs | sympy.sign):
            eqs.append(node.args[0])
        elif isinstance(node, sympy.Max | sympy.Min):
            first, *rest = node.args
            eqs.extend(first - other for other in rest)
    return [e for e in eqs if e.has(x)]


def breakpoints_of(expr: sympy.Expr, x: sympy.Symbol) -> tuple[sympy.Expr, ...]:
    """Real solutions in x of every kink equation (in the parameters); unsolvable ones skipped."""
    found: set[sympy.Expr] = set()
    for eq in _kink_equations(expr, x):
        solutions = sympy.solveset(eq, x, domain=sympy.S.Reals)
        if isinstance(solutions, sympy.FiniteSet):
            found.update(s for s in solutions.args if not s.has(x))
    return tuple(sorted(found, key=sympy.default_sort_key))


def _sign_power(e: sympy.Expr) -> bool:
    return bool(e.is_Pow and isinstance(e.base, sympy.sign) and e.exp.is_Integer and e.exp > 1)


def at_kinks_as_limits(expr: sympy.Expr) -> sympy.Expr:
    """sign(u)**(2k) -> 1 and sign(u)**(2k+1) -> sign(u).

    Away from u = 0 both sides are equal; at u = 0 SymPy's sign(0)**2 = 0 while both one-sided
    limits are 1. The model (docs, plots, references) and the emitted code then agree there: the
    value at such a kink is the limit.
    """
    return expr.replace(_sign_power, lambda e: sympy.S.One if int(e.exp) % 2 == 0 else e.base)


def pointwise_diff(expr: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
    """d expr / d var away from kinks: DiracDelta terms dropped, even powers of sign() at their
    limit (``at_kinks_as_limits``)."""
    derivative = sympy.diff(expr, var).replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    return at_kinks_as_limits(derivative)


def build_model(spec: Spec) -> SurrogateModel:
    params = tuple(sympy.Symbol(p.name, **_ASSUMPTIONS[p.domain]) for p in spec.params)
    symbols = {"x": X, **{p.name: s for p, s in zip(spec.params, params, strict=True)}}
    origin = at_kinks_as_limits(parse_expression(spec.origin, symbols, f"{spec.path}: origin"))
    backward = tuple(
        parse_expression(b.expr, symbols, f"{spec.path}: backward[{i}].expr")
        for i, b in enumerate(spec.backward)
    )
    grad_impl = (
        parse_expression(spec.grad_impl, symbols, f"{spec.path}: grad_impl")
        if spec.grad_impl
        else None
    )
    origin_impl = (
        parse_expression(spec.origin_impl, symbols, f"{spec.path}: origin_impl")
        if spec.origin_impl
        else None
    )
    # The surrogate gradient is the pointwise derivative. sign() differentiates to 2*DiracDelta,
    # which is zero away from the kink; a real jump at the kink is caught by the continuity check
    # on the origin, so dropping the delta here never hides one.
    grad = pointwise_diff(origin, X)
    return SurrogateModel(
        spec=spec,
        x=X,
        params=params,
        origin=origin,
        grad=grad,
        backward=backward,
        grad_impl=grad_impl,
        origin_impl=origin_impl,
        breakpoints=breakpoints_of(origin, X),
    )

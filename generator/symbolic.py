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

from .spec import Param, Preset, Spec, SpecError

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
    "Mod": sympy.Mod,
    "floor": sympy.floor,
    "Sum": sympy.Sum,  # Sum(term, (k, low, high)): a finite sum, parsed by _Translator._sum
}
CONSTANTS: dict[str, sympy.Basic] = {"pi": sympy.pi, "E": sympy.E}
MAX_EXPONENT = 64
MAX_LENGTH = 4000  # characters of one expression: a spec formula is a line or two
MAX_SUM_TERMS = 64  # a Sum is emitted unrolled up to its bound's declared max

_ASSUMPTIONS = {
    "positive": {"positive": True},
    "nonnegative": {"nonnegative": True, "real": True},
    "real": {"real": True},
    "integer": {"integer": True},
}


def assumptions(p: Param) -> dict[str, bool]:
    """The SymPy assumptions of a parameter: its domain, sharpened by a lower bound."""
    found = dict(_ASSUMPTIONS[p.domain])
    low = p.min if p.min is not None else p.above
    if low is not None and (low > 0 or (p.above is not None and low >= 0)):
        found["positive"] = True
    elif low is not None and low >= 0:
        found["nonnegative"] = True
    return found


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
        if name == "Sum":
            return self._sum(node)
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

    def _sum(self, node: ast.Call) -> Any:
        """``Sum(term, (k, low, high))``: k is a new integer index, visible in ``term`` only."""
        usage = "Sum takes (term, (k, low, high)) with k a new index name"
        if len(node.args) != 2 or not isinstance(node.args[1], ast.Tuple):
            raise ValueError(usage)
        limits = node.args[1].elts
        if len(limits) != 3 or not isinstance(limits[0], ast.Name):
            raise ValueError(usage)
        name = limits[0].id
        if name in self.symbols or name in CONSTANTS or name in FUNCTIONS:
            raise ValueError(f"Sum index {name!r} is already a name; pick a new one")
        low, high = self.visit(limits[1]), self.visit(limits[2])
        if not isinstance(low, sympy.Integer):
            raise ValueError(f"Sum lower bound {low} must be an integer number")
        free = high.free_symbols
        if not (isinstance(high, sympy.Integer) or (high.is_integer and len(free) == 1)) or any(
            s.is_integer is not True for s in free
        ):
            raise ValueError(
                f"Sum upper bound {high} must be an integer number or an integer parameter"
                " (domain: integer) plus or minus an integer"
            )
        index = sympy.Symbol(name, integer=True)
        term = _Translator(self.text, {**self.symbols, name: index}).visit(node.args[0])
        return sympy.Sum(term, (index, low, high))


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
class PresetModel:
    """A library's surrogate as this family's gradient, ``scale * grad(x_map, **family)``."""

    preset: Preset
    params: tuple[sympy.Symbol, ...]  # the library's parameters, in the library's order
    family: tuple[sympy.Expr, ...]  # each family parameter in terms of them
    x_map: sympy.Expr  # the family's input, affine in x
    scale: sympy.Expr
    quoted_grad: sympy.Expr  # the library code's gradient
    quoted_origin: sympy.Expr | None  # the library code's origin, where it has one
    grad: sympy.Expr  # scale * family grad at (x_map, family): what surrogen computes
    origin: sympy.Expr | None  # origin_factor * family origin at (x_map, family) + offset
    origin_factor: sympy.Expr = sympy.S.One  # scale / (d x_map / dx)
    offset: sympy.Expr = sympy.S.Zero  # the constant the library's origin adds (braintools' -1)

    @property
    def defaults(self) -> tuple[float, ...]:
        return tuple(v for _, v in self.preset.params)


@dataclass(frozen=True)
class SurrogateModel:
    """The symbolic model of one surrogate; every expression is in ``x`` and ``params``."""

    spec: Spec
    x: sympy.Symbol
    params: tuple[sympy.Symbol, ...]
    origin: sympy.Expr | None  # None for a gradient-only family
    grad: sympy.Expr  # d(origin)/dx exactly as SymPy differentiates it, or the declared grad
    backward: tuple[sympy.Expr, ...]  # the spec's documented formulas, in order
    grad_impl: sympy.Expr | None
    origin_impl: sympy.Expr | None
    breakpoints: tuple[sympy.Expr, ...]  # x where a branch, Abs, sign, Max or Min switches
    # Where the parameters are valid (integer domains, bounds); sympy.true when unconstrained.
    guard: sympy.Basic = sympy.true
    presets: tuple[PresetModel, ...] = ()

    @property
    def defaults(self) -> dict[sympy.Symbol, float]:
        return {s: p.default for s, p in zip(self.params, self.spec.params, strict=True)}

    @property
    def gradient_only(self) -> bool:
        return self.origin is None

    def expanded(self, expr: sympy.Expr) -> sympy.Expr:
        """``expr`` with every Sum unrolled to its bound's max, each term masked by the bound."""
        return expand_sums(expr, dict(zip(self.params, self.spec.params, strict=True)))


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


def _jump_function_derivative(d: sympy.Derivative) -> sympy.Expr | None:
    """d/dv of ``Mod(p, q)`` (dp/dv - floor(p/q)*dq/dv) or of ``floor(u)`` (0), away from their
    jumps, which SymPy leaves unevaluated; None for any other unevaluated derivative."""
    if len(d.variables) != 1:
        return None
    f, (v,) = d.expr, d.variables
    if isinstance(f, sympy.Mod):
        p, q = f.args
        return sympy.diff(p, v) - sympy.floor(p / q) * sympy.diff(q, v)
    if isinstance(f, sympy.floor):
        return sympy.S.Zero
    return None


def _jump_derivatives(expr: sympy.Expr) -> sympy.Expr:
    """Every unevaluated derivative of Mod or floor in ``expr`` (also inside a ``Subs``, as the
    chain rule leaves them) replaced by its value away from the jumps."""

    def known(e: sympy.Basic) -> bool:
        return isinstance(e, sympy.Derivative) and _jump_function_derivative(e) is not None

    expr = expr.replace(known, _jump_function_derivative)
    return expr.replace(
        lambda e: isinstance(e, sympy.Subs) and not e.expr.has(sympy.Derivative),
        lambda e: e.doit(),
    )


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
    """d expr / d var away from kinks and jumps: DiracDelta terms dropped, Mod and floor
    piecewise, even powers of sign() at their limit (``at_kinks_as_limits``)."""
    d = sympy.diff(expr, var).replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    return at_kinks_as_limits(_jump_derivatives(d))


def _bound_range(bound: sympy.Expr, params: dict[sympy.Symbol, Param]) -> tuple[int | None, int]:
    """(smallest, largest) value of a Sum's upper bound: a number, or an integer parameter plus
    an integer, whose declared min and max give the range (smallest None when unbounded)."""
    if isinstance(bound, sympy.Integer):
        return int(bound), int(bound)
    (symbol,) = bound.free_symbols
    p = params[symbol]
    offset = int(bound - symbol)
    if p.max is None:
        raise ValueError(
            f"the Sum bound {bound} needs params.{p.name}.max (the largest {p.name} the"
            " generated code unrolls)"
        )
    low = p.min if p.min is not None else (p.above + 1 if p.above is not None else None)
    return (None if low is None else int(low) + offset), int(p.max) + offset


def expand_sums(expr: sympy.Expr, params: dict[sympy.Symbol, Param]) -> sympy.Expr:
    """Every ``Sum(term, (k, a, b))`` as ``term(a) + ... + term(b_max)``, each term beyond b's
    declared min wrapped in ``Piecewise((term(i), b >= i), (0, True))``.

    A plain expression every printer can take, for any backend and any parameter value (per-neuron
    arrays, traced values): the masks select the terms that count. Under ``jit`` with a constant
    bound XLA folds them away.
    """

    def unroll(s: sympy.Sum) -> sympy.Expr:
        term, (k, low, high) = s.function, s.limits[0]
        always, most = _bound_range(high, params)
        if most - int(low) + 1 > MAX_SUM_TERMS:
            raise ValueError(f"Sum up to {high} unrolls to more than {MAX_SUM_TERMS} terms")
        total = sympy.S.Zero
        for i in range(int(low), most + 1):
            value = term.subs(k, i)
            total += (
                value
                if always is not None and i <= always
                else sympy.Piecewise((value, sympy.Ge(high, i)), (0, True))
            )
        return total

    if not expr.has(sympy.Sum):
        return expr
    return expr.replace(lambda e: isinstance(e, sympy.Sum), unroll)


def _guard(spec: Spec) -> sympy.Basic:
    """Where every parameter with an integer domain or a bound is valid, for the printers only.

    Its symbols are plain reals named like the parameters: on the model's integer symbols SymPy
    would fold ``n % 1 == 0`` to True, while the generated code must test the value it gets (and
    ``%`` keeps a float a float, and a NaN fails it).
    """
    conditions = []
    for p in spec.params:
        s = sympy.Symbol(p.name, real=True)
        if p.domain == "integer":
            conditions.append(sympy.Eq(sympy.Mod(s, 1), 0))
        for bound, relation in (
            (p.min, sympy.Ge),
            (p.max, sympy.Le),
            (p.above, sympy.Gt),
            (p.below, sympy.Lt),
        ):
            if bound is not None:
                conditions.append(relation(s, sympy.Rational(repr(bound))))
    return sympy.And(*conditions)


def _preset_model(
    spec: Spec,
    index: int,
    origin: sympy.Expr | None,
    grad: sympy.Expr,
    family: tuple[sympy.Symbol, ...],
) -> PresetModel:
    preset = spec.presets[index]
    where = f"{spec.path}: presets[{index}]"
    params = tuple(
        sympy.Symbol(name, **({"integer": True} if isinstance(value, int) else {"real": True}))
        for name, value in preset.params
    )
    symbols = {"x": X, **{name: s for (name, _), s in zip(preset.params, params, strict=True)}}
    values = tuple(
        parse_expression(text, symbols, f"{where}.family.{name}") for name, text in preset.family
    )
    x_map = parse_expression(preset.x, symbols, f"{where}.x")
    slope = sympy.diff(x_map, X)
    if slope.has(X) or slope == 0:
        raise SpecError(f"{where}.x: must be affine in x with a nonzero slope, got {preset.x}")
    scale = parse_expression(preset.scale, symbols, f"{where}.scale")
    if scale.has(X):
        raise SpecError(f"{where}.scale: must not depend on x")
    for (name, text), value in zip(preset.family, values, strict=True):
        if value.has(X):
            raise SpecError(f"{where}.family.{name}: must not depend on x, got {text}")
    quoted_grad = parse_expression(preset.grad, symbols, f"{where}.grad")
    quoted_origin = (
        parse_expression(preset.origin, symbols, f"{where}.origin") if preset.origin else None
    )
    if quoted_origin is not None and origin is None:
        raise SpecError(f"{where}.origin: a gradient-only family has no origin to compare with")
    used = set().union(*(e.free_symbols for e in (*values, x_map, scale)))
    for (name, _), s in zip(preset.params, params, strict=True):
        if s not in used and name not in dict(preset.ignored):
            raise SpecError(
                f"{where}.params.{name}: not used by family, x or scale; list it under ignored"
                " with the reason"
            )
    substitution = {X: x_map, **dict(zip(family, values, strict=True))}
    mapped_grad = scale * grad.subs(substitution, simultaneous=True)
    mapped_origin, offset = None, sympy.S.Zero
    if origin is not None:
        mapped_origin = scale / slope * origin.subs(substitution, simultaneous=True)
        if quoted_origin is not None:  # the constant the library adds, e.g. braintools' -1
            offset = sympy.simplify((quoted_origin - mapped_origin).subs(X, 0).doit())
            if offset.has(X):
                raise SpecError(f"{where}.origin: not the family's origin plus a constant")
            mapped_origin = mapped_origin + offset
    return PresetModel(
        preset=preset,
        params=params,
        family=values,
        x_map=x_map,
        scale=scale,
        quoted_grad=quoted_grad,
        quoted_origin=quoted_origin,
        grad=mapped_grad,
        origin=mapped_origin,
        origin_factor=scale / slope,
        offset=offset,
    )


def build_model(spec: Spec) -> SurrogateModel:
    params = tuple(sympy.Symbol(p.name, **assumptions(p)) for p in spec.params)
    symbols = {"x": X, **{p.name: s for p, s in zip(spec.params, params, strict=True)}}
    declared = spec.origin if spec.origin is not None else spec.grad
    field = "origin" if spec.origin is not None else "grad"
    assert declared is not None
    main = at_kinks_as_limits(parse_expression(declared, symbols, f"{spec.path}: {field}"))
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
    origin = main if spec.origin is not None else None
    # The surrogate gradient is the pointwise derivative. sign() differentiates to 2*DiracDelta,
    # which is zero away from the kink; a real jump at the kink is caught by the continuity check
    # on the origin, so dropping the delta here never hides one.
    grad = pointwise_diff(main, X) if origin is not None else main
    by_symbol = dict(zip(params, spec.params, strict=True))
    try:
        for expr in (main, *backward):
            expand_sums(expr, by_symbol)
    except ValueError as err:
        raise SpecError(f"{spec.path}: {field}: {err}") from None
    presets = tuple(_preset_model(spec, i, origin, grad, params) for i in range(len(spec.presets)))
    return SurrogateModel(
        spec=spec,
        x=X,
        params=params,
        origin=origin,
        grad=grad,
        backward=backward,
        grad_impl=grad_impl,
        origin_impl=origin_impl,
        breakpoints=breakpoints_of(main, X),
        guard=_guard(spec),
        presets=presets,
    )

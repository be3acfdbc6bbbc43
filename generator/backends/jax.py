"""The JAX backend: ``jax.custom_vjp`` spike, a ``custom_jvp`` twin, origin and grad as
``custom_jvp`` functions carrying their symbolic derivatives, and a frozen dataclass per spec.

Generated modules import ``surrogen.runtime.jax`` (the exact Heaviside, dtype helpers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.printing.numpy import JaxPrinter as _SympyJaxPrinter

from ..checks import CheckedModel
from ..printers import CodePrinterMixin, Printed, guarded, print_cse
from ..symbolic import pointwise_diff
from .base import ALL_SPECS, Backend, Output, as_tuple, package_index, param_checks, wrap
from .docstrings import GRADIENT_ONLY, X_DOC, formulas, param_doc

DTYPES = ("float16", "bfloat16", "float32", "float64")
DOC_WIDTH = 92  # docstrings are indented by 4 in a 100-column file


class JaxPrinter(CodePrinterMixin, _SympyJaxPrinter):
    """SymPy's JAX printer spelling ``jnp.*``, with where-chains and weakly typed literals.

    Python float literals are weakly typed in JAX, so float16/bfloat16/float32 inputs keep their
    dtype; every Piecewise becomes nested ``jnp.where`` (all branches are evaluated, as XLA does).
    """

    sqrt_function = "jnp.sqrt"
    reserved_names = frozenset({"jax", "jnp"})

    def __init__(self) -> None:
        super().__init__({"strict": True, "fully_qualified_modules": True})

    def _module_format(self, fqn: str, register: bool = True) -> str:
        fqn = fqn.replace("jax.numpy.", "jnp.", 1)
        return super()._module_format(fqn, register) if not fqn.startswith("jnp.") else fqn

    def _print_constant(self, expr: sympy.Expr) -> str:
        return repr(float(expr))

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

    def _print_NaN(self, expr: sympy.Expr) -> str:
        return "jnp.nan"

    def _print_And(self, expr: sympy.And) -> str:
        """Elementwise, broadcasting like the operands (SymPy stacks them into one array)."""
        return self._nested("jnp.logical_and", expr.args)

    def _print_Or(self, expr: sympy.Or) -> str:
        return self._nested("jnp.logical_or", expr.args)

    def _print_Not(self, expr: sympy.Not) -> str:
        return f"jnp.logical_not({self._print(expr.args[0])})"

    def _print_sign(self, expr: sympy.sign) -> str:
        return f"jnp.sign({self._print(expr.args[0])})"

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"jnp.abs({self._print(expr.args[0])})"


@dataclass(frozen=True)
class Helper:
    name: str  # _d_grad_d_x, ...
    code: Printed


@dataclass(frozen=True)
class JvpRule:
    """The custom_jvp rule of ``fn``: one tangent term per argument with an effect."""

    fn: str
    tangent: str  # "grad(x, alpha) * _tangents[0] + _rt.along(_d_origin_d_alpha(x, alpha), ...)"
    helpers: tuple[Helper, ...]


@dataclass(frozen=True)
class JaxView:
    """Everything the JAX template prints, computed here."""

    name: str
    class_name: str
    module_doc: str
    signature: str  # "x, alpha=4.0"
    call: str  # "x, alpha"
    names_tuple: str  # "(x, alpha)"
    self_call: str  # "x, self.alpha"
    cotangents: str
    fields: tuple[tuple[str, str], ...]  # (name, default) of the dataclass
    origin: Printed | None  # None: a gradient-only family (no origin, no spiking=False)
    grad: Printed
    rules: dict[str, JvpRule]  # "origin", "grad" -> the custom_jvp rule of that function
    docs: dict[str, str]  # function -> docstring body
    all_names: tuple[str, ...]
    checks: tuple[str, ...]  # host-side checks of bounded parameters, one statement each
    self_checks: tuple[str, ...]  # the same on the class's fields


def _rule(
    fn: str,
    names: list[str],
    exprs: list[sympy.Expr | None],
    call: str,
    printer: Any,
    x: sympy.Symbol,
) -> JvpRule:
    """``exprs[i]`` is d fn / d names[i]: None where a public function already computes it
    (d origin/dx is ``grad``), 0 where the argument has no effect."""
    terms, helpers = [], []
    for i, (arg, expr) in enumerate(zip(names, exprs, strict=True)):
        if expr is None:
            terms.append(f"grad({call}) * _tangents[{i}]")
        elif expr != 0:
            helper = f"_d_{fn}_d_{arg}"
            helpers.append(Helper(helper, print_cse(expr, printer, x)))
            # A parameter passed as a Python int has a float0 tangent: no term (_rt.along).
            product = f"{helper}({call}) * _tangents[{i}]"
            terms.append(product if i == 0 else f"_rt.along({helper}({call}), _tangents[{i}])")
    tangent = " + ".join(terms) or "jnp.zeros_like(_tangents[0])"
    return JvpRule(fn, tangent, tuple(helpers))


def _docs(checked: CheckedModel, class_name: str) -> dict[str, str]:
    spec = checked.model.spec
    f = formulas(checked)
    how = "A float or an array broadcastable against ``x`` (per-neuron values); may be traced."
    args = [f"  x: {X_DOC}: an array of any shape, {', '.join(DTYPES)}."]
    args += [f"  {p.name}: {param_doc(p, how)}" for p in spec.params]
    arg_text = "\n".join(wrap(a, indent="    ", first="  ", width=DOC_WIDTH) for a in args)
    shape = "the broadcast shape of ``x`` and the parameters"
    dtype = "in ``x``'s floating dtype (float16 and bfloat16 are computed in float32)"
    source = wrap(f"Source: {f.source}", width=DOC_WIDTH)

    def returns(what: str) -> str:
        return wrap(f"  {what}, with {shape}, {dtype}.", indent="  ", width=DOC_WIDTH)

    example = (
        "Example:\n  >>> import jax, jax.numpy as jnp\n"
        f"  >>> from surrogen.jax import {spec.name}\n"
        f"  >>> {spec.name}.spike(jnp.array([-0.5, 0.0, 0.5]))\n"
        "  Array([0., 1., 1.], dtype=float32)\n"
        f"  >>> g = jax.grad(lambda v: {spec.name}.spike(v - 1.0))(1.0)  # = grad(0.0)\n"
        f"  >>> bool(g == {spec.name}.grad(0.0))\n  True"
    )
    emitted = f"\n\nEvaluated in the equal, numerically stable form\n\n    {f.emitted}" * bool(
        f.emitted
    )
    return {
        "origin": (
            f"{spec.title} origin: the smooth function whose derivative is ``grad``."
            f"\n\n    origin(x) = {f.origin}\n\nArgs:\n{arg_text}\n\n"
            f"Returns:\n{returns('origin(x)')}\n\n"
            "Differentiable (a custom_jvp with symbolic derivatives in x and the parameters).\n"
            f"{source}"
        ),
        "grad": (
            f"{spec.title} surrogate gradient{': d origin / dx' if f.origin else ''}."
            f"\n\n    grad(x) = {f.grad}"
            f"{emitted}\n\nArgs:\n{arg_text}\n\n"
            f"Returns:\n{returns('grad(x)')}\n\n"
            "Differentiable to any order without evaluating an unselected ``jnp.where`` branch\n"
            "(a custom_jvp carrying the symbolic derivatives).\n"
            f"{source}"
        ),
        "spike": (
            f"Spike with the {spec.title} surrogate gradient."
            "\n\n    spike(x) = 1 if x >= 0 else 0   (1 at x = -0.0, 0 for NaN)\n"
            "    d spike / dx := grad(x)           (backward pass only)\n\n"
            f"Args:\n{arg_text}\n\n"
            "Returns:\n  0.0 or 1.0 with ``x``'s shape and floating dtype. Reverse mode\n"
            "  (``jax.grad``, ``vjp``, ``jacrev``) gives ``g * grad(x, ...)`` for ``x``; the\n"
            "  parameters get no gradient. Use ``spike_jvp`` for forward mode.\n\n"
            f"{example}"
        ),
        "spike_jvp": (
            "``spike`` as a custom_jvp: the same values and derivatives, for forward mode too\n"
            "(``jax.jvp``, ``jacfwd``, ``hessian``).\n\n"
            f"Args:\n{arg_text}\n\nReturns:\n  0.0 or 1.0 with ``x``'s shape and floating dtype."
        ),
        "class": (
            f"{spec.title} spike function with fixed parameters.\n\n"
            "Attributes:\n"
            + "\n".join(
                wrap(
                    f"  {p.name}: {param_doc(p, 'A float or an array (per-neuron values).')}",
                    indent="    ",
                    first="  ",
                    width=DOC_WIDTH,
                )
                for p in spec.params
            )
            + ("\n" if spec.params else "")
            + (
                "  spiking: if True (default), ``spike``: the Heaviside step forward with the\n"
                "    surrogate gradient backward. If False, ``origin``: the smooth forward with\n"
                "    its true gradient (SpikingJelly's ``spiking=False``).\n\n"
                if f.origin
                else f"\n{wrap(GRADIENT_ONLY, width=DOC_WIDTH)}\n\n"
            )
            + "Example:\n  >>> import jax.numpy as jnp\n"
            f"  >>> from surrogen.jax import {class_name}\n"
            f"  >>> {class_name}()(jnp.array([-0.5, 0.5]))\n  Array([0., 1.], dtype=float32)"
        ),
    }


def view(checked: CheckedModel) -> JaxView:
    model, spec = checked.model, checked.model.spec
    printer = JaxPrinter()
    names = ["x", *(p.name for p in spec.params)]
    call = ", ".join(names)
    signature = ", ".join(["x", *(f"{p.name}={p.default!r}" for p in spec.params)])
    integer = [p.domain == "integer" for p in spec.params]
    grad_partials: list[sympy.Expr | None] = [pointwise_diff(checked.emitted_grad, model.x)] + [
        sympy.S.Zero if is_int else pointwise_diff(checked.emitted_grad, s)
        for is_int, s in zip(integer, model.params, strict=True)
    ]
    rules = {"grad": _rule("grad", names, grad_partials, call, printer, model.x)}
    origin = None
    if checked.emitted_origin is not None and model.origin is not None:
        # The parameter derivatives of the spec's origin itself: a rewrite chosen for its values
        # (0 where alpha == 0 for alpha*x) need not have the right derivative in alpha.
        exact_origin = model.expanded(model.origin)
        origin_partials: list[sympy.Expr | None] = [None] + [
            sympy.S.Zero if is_int else pointwise_diff(exact_origin, s)
            for is_int, s in zip(integer, model.params, strict=True)
        ]
        rules["origin"] = _rule("origin", names, origin_partials, call, printer, model.x)
        origin = print_cse(guarded(checked.emitted_origin, checked.guard), printer, model.x)
    f = formulas(checked)
    if origin is not None:
        formula = (
            "``spike`` is the Heaviside step in the forward pass and ``g * grad(x, ...)`` in the\n"
            "backward pass, where ``grad`` is the derivative of the smooth ``origin``:\n\n"
            f"    origin(x) = {f.origin}\n    grad(x)   = {f.grad}\n\n"
            f"Functions ``spike``, ``spike_jvp``, ``origin``, ``grad``; class"
            f" ``{spec.class_name}``.\n"
        )
    else:
        formula = (
            "``spike`` is the Heaviside step in the forward pass and ``g * grad(x, ...)`` in the\n"
            f"backward pass:\n\n    grad(x) = {f.grad}\n\n"
            f"{wrap(GRADIENT_ONLY, width=DOC_WIDTH)}\n\n"
            f"Functions ``spike``, ``spike_jvp``, ``grad``; class ``{spec.class_name}``.\n"
        )
    module_doc = (
        f"{spec.title} surrogate spike function for JAX.\n\n"
        f"{wrap(spec.summary, width=DOC_WIDTH)}\n\n"
        f"{formula}Formulas, checked sources and plots: docs/{spec.name}.md."
    )
    return JaxView(
        name=spec.name,
        class_name=spec.class_name,
        module_doc=module_doc,
        signature=signature,
        call=call,
        names_tuple=as_tuple(names),
        self_call=", ".join(["x", *(f"self.{p.name}" for p in spec.params)]),
        cotangents=as_tuple(
            [f"(_g * grad({call})).astype(jnp.result_type(x))", *["None"] * len(spec.params)]
        ),
        fields=tuple((p.name, repr(p.default)) for p in spec.params),
        origin=origin,
        grad=print_cse(guarded(checked.emitted_grad, checked.guard), printer, model.x),
        rules=rules,
        docs=_docs(checked, spec.class_name),
        all_names=tuple(
            sorted([spec.class_name, "grad", "spike", "spike_jvp", *["origin"] * bool(origin)])
        ),
        checks=param_checks(spec, "_rt.check_param"),
        self_checks=param_checks(spec, "_rt.check_param", "self."),
    )


class JaxBackend(Backend):
    name = "jax"
    requires = ("jax",)
    reserved = frozenset(
        # module-level names of every generated module, and the class fields' annotations
        {"dataclasses", "origin", "grad", "spike", "spike_jvp", "spiking", "float", "bool"}
    )

    def printer_reserved(self) -> frozenset[str]:
        return JaxPrinter.reserved_names

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        outs = [
            Output(
                f"jax/{c.model.spec.name}.py",
                c.model.spec.path,
                "jax/SURROGATE.py.jinja",
                {"v": view(c)},
            )
            for c in models
        ]
        index = package_index(
            "JAX surrogate spike functions",
            "from surrogen.jax import sigmoid, Sigmoid",
            models,
            with_classes=True,
        )
        outs.append(Output("jax/__init__.py", ALL_SPECS, "_shared/__init__.py.jinja", index))
        return outs

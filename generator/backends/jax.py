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

from ..checks import MAX_ORDER, CheckedModel
from ..printers import CodePrinterMixin, Printed, guarded, print_cse
from .base import ALL_SPECS, ApiDoc, Backend, Output, as_tuple, package_index, param_checks, wrap
from .docstrings import GRADIENT_ONLY, X_DOC, formulas, param_doc

DTYPES = ("float16", "bfloat16", "float32", "float64")
_ZERO_TESTS = {"<": "lt0", "<=": "le0", ">": "gt0", ">=": "ge0"}
# The functions of the derivative chain: d^n origin / dx^n is ORDER_NAMES[n].
ORDER_NAMES = ("origin", "grad", *(f"_d{n}" for n in range(2, MAX_ORDER + 1)))
DOC_WIDTH = 92  # docstrings are indented by 4 in a 100-column file
GRADIENT_ONLY_NO_GRADIENT = GRADIENT_ONLY + " The parameters get no gradient."
_FLAGS_DOC = (  # the class's static fields, where the family has an origin
    "  spiking: if True (default), ``spike``: the Heaviside step forward with the\n"
    "    surrogate gradient backward. If False, ``origin``: the smooth forward with its\n"
    "    true gradient (SpikingJelly's ``spiking=False``).\n"
    "  learnable: if False (default), the parameters get no gradient. If True, they get\n"
    "    d origin / d parameter (``spike_learnable``; in smooth mode the true derivative,\n"
    "    which is the same thing).\n\n"
)


class JaxPrinter(CodePrinterMixin, _SympyJaxPrinter):
    """SymPy's JAX printer spelling ``jnp.*``, with where-chains and weakly typed literals.

    Python float literals are weakly typed in JAX, so float16/bfloat16/float32 inputs keep their
    dtype; every Piecewise becomes nested ``jnp.where`` (all branches are evaluated, as XLA does).
    """

    sqrt_function = "jnp.sqrt"
    reserved_names = frozenset({"jax", "jnp"})
    compensated_exp = True
    shifted_exp = True

    def _print_exp_monomial(
        self, x: str, kind: int, scale: str, num: list[str], den: list[str]
    ) -> str:
        """The runtime's compensated exponential (``x``: unused, the atoms carry the dtype)."""
        n, d = (f"({', '.join(a)}{',' * (len(a) == 1)})" for a in (num, den))
        fn = ("exp_monomial", "shifted_exp_monomial", "exp_monomial_shift")[kind]
        return f"_rt.{fn}({scale}, {n}, {d})"

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

    def _print_Not(self, expr: sympy.Not) -> str:
        return f"jnp.logical_not({self._print(expr.args[0])})"

    def _print_sign(self, expr: sympy.sign) -> str:
        return f"jnp.sign({self._print(expr.args[0])})"

    def _print_And(self, expr: sympy.And) -> str:
        """Nested ``jnp.logical_and``: SymPy's stacks the operands into one array, which fails
        when they broadcast to different shapes (per-neuron parameters)."""
        return self._nested("jnp.logical_and", tuple(sorted(expr.args, key=str)))

    def _print_Or(self, expr: sympy.Or) -> str:
        return self._nested("jnp.logical_or", tuple(sorted(expr.args, key=str)))

    def _print_Relational(self, expr: sympy.core.relational.Relational) -> str:
        """``x < 0`` and its kin on the bits (``_rt.lt0``): XLA flushes subnormals to zero in
        float comparisons, which would put -1e-45 on the x >= 0 side of a formula. Only for x: a
        parameter may be a Python int (an integer parameter), which has no float bits."""
        helper = _ZERO_TESTS.get(expr.rel_op)
        if helper is not None and expr.rhs == 0 and expr.lhs.is_Symbol and expr.lhs.name == "x":
            return f"_rt.{helper}({self._print(expr.lhs)})"
        return str(super()._print_Relational(expr))

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"jnp.abs({self._print(expr.args[0])})"


@dataclass(frozen=True)
class Helper:
    name: str  # _d0_d_alpha, ...
    code: Printed


@dataclass(frozen=True)
class Order:
    """d^n origin / dx^n as a function, with its custom_jvp rule (None for the last order)."""

    name: str  # origin, grad, _d2, ...
    code: Printed
    partials: str | None  # "(lambda: grad(x, alpha), lambda: _d0_d_alpha(x, alpha))"
    helpers: tuple[Helper, ...]  # the parameter derivatives the rule calls


@dataclass(frozen=True)
class JaxView:
    """Everything the JAX template prints, computed here."""

    name: str
    class_name: str
    module_doc: str
    signature: str  # "x, alpha=4.0"
    call: str  # "x, alpha"
    wide_call: str  # "_rt.upcast(x), alpha": x in at least float32
    names_tuple: str  # "(x, alpha)"
    params: str  # ", alpha" (appended to the arguments of the runtime helpers)
    spike_partials: str  # "(lambda: grad(x, alpha), None)"
    learnable_partials: str  # "(lambda: grad(x, alpha), lambda: _d0_d_alpha(x, alpha))"
    fields: tuple[tuple[str, str], ...]  # (name, default) of the dataclass
    has_origin: bool  # False: a gradient-only family (no origin, no spiking=False, no learnable)
    data_fields: str  # '["alpha"]'
    orders: tuple[Order, ...]
    docs: dict[str, str]  # function -> docstring body
    all_names: tuple[str, ...]
    checks: tuple[str, ...]  # host-side checks of bounded parameters, one statement each
    self_checks: tuple[str, ...]  # the same on the class's fields


def wide_call(spec: Any) -> str:
    """The arguments of a generated function with x in at least float32: ``_rt.upcast(x), a``."""
    return ", ".join(["_rt.upcast(x)", *(p.name for p in spec.params)])


def _orders(checked: CheckedModel, printer: Any) -> tuple[Order, ...]:
    model, spec = checked.model, checked.model.spec
    # Partial derivatives in float32 for float16/bfloat16 x: the tangent (or cotangent) times the
    # partial is rounded once, to x's dtype, not twice.
    wide = wide_call(spec)
    orders = []
    # XLA flushes subnormal intermediates: the origin and the gradient in their flush-safe forms.
    flush_safe = (checked.flush_safe_origin, checked.flush_safe_grad)
    for n, (name, expr) in enumerate(zip(ORDER_NAMES, checked.derivatives, strict=True)):
        if expr is None:  # a gradient-only family has no origin
            continue
        if n < len(flush_safe) and (safe := flush_safe[n]) is not None:
            expr = safe
        # NaN where a parameter is outside its domain (integer, bounds): the guard.
        code = print_cse(guarded(expr, checked.guard), printer, model.x, compensate=n < 2)
        if n == len(ORDER_NAMES) - 1:
            orders.append(Order(name, code, None, ()))
            continue
        helpers, partials = [], [f"lambda: {ORDER_NAMES[n + 1]}({wide})"]
        if n >= len(checked.partials):  # beyond the symbolic ones: autodiff of this order's form
            partials += [
                "None"
                if p.domain == "integer"
                else f"lambda: _rt.partial({name}.fun, _primals, {i})"
                for i, p in enumerate(spec.params, start=1)
            ]
            orders.append(Order(name, code, as_tuple(partials), ()))
            continue
        for p, partial in zip(spec.params, checked.partials[n], strict=True):
            if partial is None or partial == 0:
                partials.append("None")
                continue
            printed = print_cse(guarded(partial, checked.guard), printer, model.x, False)
            helper = Helper(f"_d{n}_d_{p.name}", printed)
            helpers.append(helper)
            partials.append(f"lambda: {helper.name}({wide})")
        orders.append(Order(name, code, as_tuple(partials), tuple(helpers)))
    return tuple(orders)


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
    params = ", ".join(p.name for p in spec.params)
    learnable = (
        "Reverse and forward mode give ``g * grad(x, ...)`` for ``x`` and, for each parameter,"
        " ``g * d origin / d parameter`` summed to the parameter's shape: the surrogate principle"
        f" applied to the parameters ({params})."
        if spec.params
        else "There are no parameters: the same as ``spike_jvp``."
    )
    integer = [p.name for p in spec.params if p.domain == "integer"]
    if integer:
        learnable += f" Integer parameters ({', '.join(integer)}) get no gradient."
    return {
        "origin": (
            f"{spec.title} origin: the smooth function whose derivative is ``grad``."
            f"\n\n    origin(x) = {f.origin}\n\nArgs:\n{arg_text}\n\n"
            f"Returns:\n{returns('origin(x)')} NaN where ``x`` is NaN.\n\n"
            f"Differentiable to order {MAX_ORDER} in ``x`` and once in the parameters (a\n"
            "custom_jvp carrying the symbolic derivatives: no ``jnp.where`` branch that is not\n"
            "selected is ever differentiated).\n"
            f"{source}"
        ),
        "grad": (
            f"{spec.title} surrogate gradient{': d origin / dx' if f.origin else ''}."
            f"\n\n    grad(x) = {f.grad}"
            f"{emitted}\n\nArgs:\n{arg_text}\n\n"
            f"Returns:\n{returns('grad(x)')} NaN where ``x`` is NaN.\n\n"
            f"Differentiable to order {MAX_ORDER - 1} in ``x`` and once in the parameters (a\n"
            "custom_jvp carrying the symbolic derivatives: no ``jnp.where`` branch that is not\n"
            "selected is ever differentiated).\n"
            f"{source}"
        ),
        "spike": (
            f"Spike with the {spec.title} surrogate gradient."
            "\n\n    spike(x) = 1 if x >= 0 else 0   (1 at x = -0.0, 0 for NaN)\n"
            "    d spike / dx := grad(x)           (backward pass only)\n\n"
            f"Args:\n{arg_text}\n\n"
            "Returns:\n"
            + wrap(
                f"0.0 or 1.0, with {shape}, in ``x``'s floating dtype. A negative subnormal"
                " ``x`` does not spike, eagerly and under ``jit`` alike. Reverse mode"
                " (``jax.grad``, ``vjp``, ``jacrev``) gives ``g * grad(x, ...)`` for ``x``,"
                " summed to ``x``'s shape; the parameters get no gradient"
                + (" (``spike_learnable`` gives them one)" if f.origin else "")
                + ". Use ``spike_jvp`` for forward mode.",
                indent="  ",
                width=DOC_WIDTH,
            )
            + f"\n\n{example}"
        ),
        "spike_jvp": (
            "``spike`` as a custom_jvp: the same values and derivatives, for forward mode too\n"
            "(``jax.jvp``, ``jacfwd``, ``hessian``).\n\n"
            f"Args:\n{arg_text}\n\nReturns:\n"
            + wrap(f"0.0 or 1.0, with {shape}, in ``x``'s floating dtype.", indent="  ")
        ),
        "spike_learnable": (
            "``spike`` whose parameters get a gradient too (opt-in).\n\n"
            "    d spike / dx     := grad(x)\n"
            "    d spike / dtheta := d origin / dtheta\n\n"
            f"{wrap(learnable, width=DOC_WIDTH)}\n\n"
            f"Args:\n{arg_text}\n\nReturns:\n"
            + wrap(f"0.0 or 1.0, with {shape}, in ``x``'s floating dtype.", indent="  ")
        ),
        "class": (
            f"{spec.title} spike function with its parameters (a JAX pytree).\n\n"
            "The parameters are the pytree's leaves: ``jit`` traces them, ``vmap`` maps over\n"
            "them, and an optimizer can update them."
            + (" ``spiking`` and ``learnable`` are static.\n\n" if f.origin else "\n\n")
            + "Attributes:\n"
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
                _FLAGS_DOC
                if f.origin
                else f"\n{wrap(GRADIENT_ONLY_NO_GRADIENT, width=DOC_WIDTH)}\n\n"
            )
            + "Example:\n  >>> import jax.numpy as jnp\n"
            f"  >>> from surrogen.jax import {class_name}\n"
            f"  >>> {class_name}()(jnp.array([-0.5, 0.5]))\n  Array([0., 1.], dtype=float32)"
        ),
    }


def view(checked: CheckedModel) -> JaxView:
    spec = checked.model.spec
    printer = JaxPrinter()
    names = ["x", *(p.name for p in spec.params)]
    call = ", ".join(names)
    signature = ", ".join(["x", *(f"{p.name}={p.default!r}" for p in spec.params)])
    orders = _orders(checked, printer)
    f = formulas(checked)
    if checked.emitted_origin is not None:
        formula = (
            "``spike`` is the Heaviside step in the forward pass and ``g * grad(x, ...)`` in the\n"
            "backward pass, where ``grad`` is the derivative of the smooth ``origin``:\n\n"
            f"    origin(x) = {f.origin}\n    grad(x)   = {f.grad}\n\n"
            "Functions ``spike``, ``spike_jvp``, ``spike_learnable``, ``origin``, ``grad``; class\n"
            f"``{spec.class_name}``. "
        )
    else:
        formula = (
            "``spike`` is the Heaviside step in the forward pass and ``g * grad(x, ...)`` in the\n"
            f"backward pass:\n\n    grad(x) = {f.grad}\n\n"
            f"{wrap(GRADIENT_ONLY, width=DOC_WIDTH)}\n\n"
            f"Functions ``spike``, ``spike_jvp``, ``grad``; class ``{spec.class_name}``. "
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
        wide_call=wide_call(spec),
        names_tuple=as_tuple(names),
        params="".join(f", {p.name}" for p in spec.params),
        spike_partials=as_tuple([f"lambda: grad({wide_call(spec)})", *["None"] * len(spec.params)]),
        learnable_partials=(orders[0].partials or "") if orders[0].name == "origin" else "",
        fields=tuple((p.name, repr(p.default)) for p in spec.params),
        has_origin=checked.emitted_origin is not None,
        data_fields="[" + ", ".join(f'"{p.name}"' for p in spec.params) + "]",
        orders=orders,
        docs=_docs(checked, spec.class_name),
        all_names=tuple(
            sorted(
                [spec.class_name, "grad", "spike", "spike_jvp"]
                + ["origin", "spike_learnable"] * (checked.emitted_origin is not None)
            )
        ),
        checks=param_checks(spec, "_rt.check_param"),
        self_checks=param_checks(spec, "_rt.check_param", "self."),
    )


class JaxBackend(Backend):
    name = "jax"
    title = "JAX"
    requires = ("jax",)
    reserved = frozenset(
        # module-level names of every generated module, and the class fields' annotations
        {"dataclasses", "functools", "origin", "grad", "spike", "spike_jvp", "spike_learnable"}
        | {"spiking", "learnable", "float", "bool"}
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

    def api_doc(self, checked: CheckedModel) -> ApiDoc:
        spec = checked.model.spec
        kw = ", ".join(f"{p.name}={p.default!r}" for p in spec.params)
        args = f", {kw}" if kw else ""
        example = (
            "import jax\nimport jax.numpy as jnp\n\n"
            f"from surrogen.jax import {spec.class_name}, {spec.name}\n\n"
            "x = jnp.linspace(-2.0, 2.0, 5)  # x = v - v_threshold\n"
            f"spikes = {spec.name}.spike(x{args})  # the Heaviside step forward\n"
            f"g = jax.grad(lambda u: {spec.name}.spike(u{args}).sum())(x)"
            f"  # = {spec.name}.grad(x{args})\n"
            f"spike_fn = {spec.class_name}({kw})  # spiking=False: the smooth origin forward\n"
            "print(spikes, g, spike_fn(x))\n"
        )
        return ApiDoc(self.title, f"surrogen.jax.{spec.name}", "jax", example)

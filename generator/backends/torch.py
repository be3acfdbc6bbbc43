"""The PyTorch backend: ``spike``, ``origin`` and ``grad`` as ``torch.autograd.Function``s in the
modern style (``setup_context``, ``generate_vmap_rule``) whose derivatives are the symbolic ones,
and an ``nn.Module`` per spec.

Generated modules import ``surrogen.runtime.torch`` (the exact Heaviside, dtype handling, the
Functions' bookkeeping and the choice between the eager and the ``torch.compile`` Function).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy
from sympy.printing.numpy import NumPyPrinter

from ..checks import CheckedModel
from ..printers import CodePrinterMixin, Printed, guarded, print_cse
from ..symbolic import pointwise_diff
from .base import (
    ALL_SPECS,
    ApiDoc,
    Backend,
    Output,
    as_tuple,
    package_index,
    param_checks,
    param_list,
    wrap,
)
from .docstrings import GRADIENT_ONLY, X_DOC, formulas, param_doc

DTYPES = ("float16", "bfloat16", "float32", "float64")
DOC_WIDTH = 92  # docstrings are indented by 4 in a 100-column file

# Public attributes of torch.nn.Module (torch 2.4-2.13): a spec parameter is an attribute of the
# generated module class, so it must not shadow one (tests compare this with dir(nn.Module)).
MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
        "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr",
        "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
        "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
        "named_modules", "named_parameters", "parameters", "register_backward_hook",
        "register_buffer", "register_forward_hook", "register_forward_pre_hook",
        "register_full_backward_hook", "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
        "register_module", "register_parameter", "register_state_dict_post_hook",
        "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule",
        "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
        "zero_grad",
    }
)  # fmt: skip


class TorchPrinter(CodePrinterMixin, NumPyPrinter):
    """SymPy's NumPy printer spelling ``torch.*``: elementwise functions, ``torch.where`` chains,
    ``torch.maximum``/``torch.clamp`` and Python float literals.

    A Python float in a torch operation takes the tensor's dtype (converted from double), so
    float32 inputs stay float32. The generated formulas receive every parameter as a tensor
    (``_rt.prepare``), so a function of parameters alone is a tensor operation too. Only a
    ``torch.where`` of two numbers would fall back to the default dtype: its first value is
    made a tensor of x's dtype (``x.new_tensor``).
    """

    _module = "torch"
    _kf = {  # noqa: RUF012  # SymPy's class attribute, read by its _print_known_func
        "atan": "torch.arctan",
        "cos": "torch.cos",
        "cosh": "torch.cosh",
        "exp": "torch.exp",
        "log": "torch.log",
        "log1p": "torch.log1p",
        "sin": "torch.sin",
        "tanh": "torch.tanh",
        "sign": "torch.sign",
    }
    _kc = {"Infinity": "torch.inf", "NaN": "torch.nan"}  # noqa: RUF012
    sqrt_function = "torch.sqrt"
    reserved_names = frozenset({"torch"})
    compensated_exp = True

    def _print_exp_monomial(
        self, x: str, kind: int, scale: str, num: list[str], den: list[str]
    ) -> str:
        """The runtime's compensated exponential (``x``: unused, the atoms carry the dtype)."""
        n, d = (f"({', '.join(a)}{',' * (len(a) == 1)})" for a in (num, den))
        return f"_rt.exp_monomial({scale}, {n}, {d})"

    def __init__(self) -> None:
        super().__init__({"strict": True, "fully_qualified_modules": True})
        # NumPyPrinter merges in Python's math names: a function not listed here must not print.
        self._kf = dict(type(self)._kf)
        self.known_functions = dict(self._kf)

    def _print_known_func(self, expr: sympy.Expr) -> str:
        fn = self._kf[type(expr).__name__]
        return f"{fn}({', '.join(self._print(a) for a in expr.args)})"

    _print_atan = _print_cos = _print_cosh = _print_exp = _print_known_func
    _print_log = _print_log1p = _print_sin = _print_tanh = _print_sign = _print_known_func

    def _print_constant(self, expr: sympy.Expr) -> str:
        return repr(float(expr))

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        """A power of a compound base is computed once: ``torch.square(b)``, not ``b * b`` (in
        eager PyTorch each operation is a pass over memory, and b would be evaluated twice)."""
        base, e = expr.base, expr.exp
        if base.is_Symbol or base.is_number or not e.is_Integer or not 2 <= abs(int(e)) <= 4:
            return super()._print_Pow(expr, rational)
        b = self._print(base)
        n = abs(int(e))
        text = {2: "torch.square({})", 3: "torch.pow({}, 3)", 4: "torch.square(torch.square({}))"}
        power = text[n].format(b)
        return power if e > 0 else f"(1 / {power})"

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return str(expr.p)

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return repr(float(expr))

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_Infinity(self, expr: sympy.Expr) -> str:
        return "torch.inf"

    def _print_NegativeInfinity(self, expr: sympy.Expr) -> str:
        return "-torch.inf"

    def _print_NaN(self, expr: sympy.Expr) -> str:
        return "torch.nan"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        *branches, (last, _) = expr.args
        text = self._print(last)
        tensor = not last.is_number
        for value, cond in reversed(branches):
            printed = self._print(value)
            if value.is_number and not tensor:
                printed = f"x.new_tensor({printed})"  # where(c, 0.1, 1) would be float32
            text = f"torch.where({self._print(cond)}, {printed}, {text})"
            tensor = True
        return text

    def _print_Relational(self, expr: sympy.Expr) -> str:
        op = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}[expr.rel_op]
        return f"torch.{op}({self._print(expr.lhs)}, {self._print(expr.rhs)})"

    def _logical(self, fn: str, args: tuple[sympy.Basic, ...]) -> str:
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{fn}({text}, {self._print(arg)})"
        return text

    def _print_And(self, expr: sympy.And) -> str:
        return self._logical("torch.logical_and", expr.args)

    def _print_Or(self, expr: sympy.Or) -> str:
        return self._logical("torch.logical_or", expr.args)

    def _print_Not(self, expr: sympy.Not) -> str:
        return f"torch.logical_not({self._print(expr.args[0])})"

    def _extremum(self, expr: sympy.Expr, fn: str, bound: str) -> str:
        """Max/Min: ``torch.maximum`` of tensors; a number bound goes to ``torch.clamp``, which
        applies it in the tensor's dtype (torch.maximum takes no Python number)."""
        numbers = [a for a in expr.args if a.is_number]
        tensors = [a for a in expr.args if not a.is_number]
        text = self._print(tensors[0])
        for arg in tensors[1:]:
            text = f"{fn}({text}, {self._print(arg)})"
        for arg in numbers:
            text = f"torch.clamp({text}, {bound}={self._print(arg)})"
        return text

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._extremum(expr, "torch.maximum", "min")

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._extremum(expr, "torch.minimum", "max")

    def _print_erf(self, expr: sympy.erf) -> str:
        return f"torch.erf({self._print(expr.args[0])})"

    def _print_erfc(self, expr: sympy.erfc) -> str:
        """erfc directly: 1 - erf(-a*x) loses every digit of the lower tail."""
        return f"torch.erfc({self._print(expr.args[0])})"

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"torch.abs({self._print(expr.args[0])})"

    def _print_Mod(self, expr: sympy.Mod) -> str:
        """``torch.remainder``: the result takes the divisor's sign, as SymPy's Mod (and
        Python's ``%``); ``torch.fmod`` would take the dividend's."""
        a, b = (self._print(arg) for arg in expr.args)
        return f"torch.remainder({a}, {b})"

    def _print_floor(self, expr: sympy.floor) -> str:
        return f"torch.floor({self._print(expr.args[0])})"


@dataclass(frozen=True)
class Helper:
    name: str  # _d_grad_d_x, ...
    code: Printed


@dataclass(frozen=True)
class TorchView:
    """Everything the PyTorch template prints, computed here."""

    name: str
    class_name: str
    module_doc: str
    signature: str  # "x, alpha=4.0"
    call: str  # "x, alpha"
    names: str  # '("x", "alpha")'
    prepared: str  # "_dtype, x, alpha"
    init_signature: str  # "alpha=4.0, spiking=True"
    params: str  # "(alpha,)": the constructor's values, in spec order
    self_call: str  # "x, self.alpha"
    origin: Printed | None  # None: a gradient-only family (no origin, no spiking=False)
    grad: Printed
    helpers: tuple[Helper, ...]
    # The derivative of origin/grad/spike with respect to each argument, as a tuple of functions
    # (None where it is zero, or where spike gives a parameter no gradient by design).
    partials: dict[str, str]
    docs: dict[str, str]
    all_names: tuple[str, ...]
    checks: tuple[str, ...]  # host-side checks of bounded parameters (Python numbers)
    self_checks: tuple[str, ...]  # the same in the Module's constructor


def _partials(
    fn: str,
    names: list[str],
    exprs: Sequence[sympy.Expr | str | None],
    printer: TorchPrinter,
    checked: CheckedModel,
) -> tuple[str, list[Helper]]:
    """``exprs[i]`` is d fn / d names[i]: a public function's name where one computes it (d
    origin / dx is ``grad``), else a SymPy expression printed as a helper (NaN where the
    parameters are invalid, as every formula), or 0 or None (no effect, no derivative)."""
    items, helpers = [], []
    for arg, expr in zip(names, exprs, strict=True):
        if isinstance(expr, str):
            items.append(expr)
        elif expr is None or expr == 0:
            items.append("None")
        else:
            helper = f"_d_{fn}_d_{arg}"
            printed = print_cse(guarded(expr, checked.guard), printer, checked.model.x, False)
            helpers.append(Helper(helper, printed))
            items.append(helper)
    return as_tuple(items), helpers


def _docs(checked: CheckedModel, class_name: str) -> dict[str, str]:
    spec = checked.model.spec
    f = formulas(checked)
    how = "A float or a tensor broadcastable against ``x`` (per-neuron values), on ``x``'s device."
    args = [f"  x: {X_DOC}: a tensor of any shape, {', '.join(DTYPES)}, on any device."]
    args += [f"  {p.name}: {param_doc(p, how)}" for p in spec.params]
    arg_text = "\n".join(wrap(a, indent="    ", first="  ", width=DOC_WIDTH) for a in args)
    shape = "the broadcast shape of ``x`` and the parameters"
    dtype = "in ``x``'s floating dtype (float16 and bfloat16 are computed in float32)"
    source = wrap(f"Source: {f.source}", width=DOC_WIDTH)
    raises = (
        "Raises:\n  TypeError: ``x`` is not a tensor, or a parameter is neither a number nor a"
        " tensor.\n  ValueError: the shapes of ``x`` and the parameters do not broadcast."
    )

    def returns(what: str) -> str:
        return wrap(f"  {what}, with {shape}, {dtype}.", indent="  ", width=DOC_WIDTH)

    buffer = "A float, or a tensor (per-neuron values) kept as a buffer."
    example = (
        "Example:\n  >>> import torch\n"
        f"  >>> from surrogen.torch import {spec.name}\n"
        f"  >>> {spec.name}.spike(torch.tensor([-0.5, 0.0, 0.5]))\n"
        "  tensor([0., 1., 1.])\n"
        "  >>> v = torch.tensor(1.0, requires_grad=True)\n"
        f"  >>> {spec.name}.spike(v - 1.0).backward()  # v.grad = grad(0.0)\n"
        f"  >>> bool(v.grad == {spec.name}.grad(torch.tensor(0.0)))\n  True"
    )
    emitted = f"\n\nEvaluated in the equal, numerically stable form\n\n    {f.emitted}" * bool(
        f.emitted
    )
    return {
        "origin": (
            f"{spec.title} origin: a smooth step; its derivative is ``grad``."
            f"\n\n    origin(x) = {f.origin}\n\nArgs:\n{arg_text}\n\n"
            f"Returns:\n{returns('origin(x)')}\n\n{raises}\n\n"
            "Differentiable in every mode (an autograd.Function whose derivatives are ``grad``\n"
            "in x and the symbolic derivatives in tensor parameters).\n"
            f"{source}"
        ),
        "grad": (
            f"{spec.title} surrogate gradient{': d origin / dx' if f.origin else ''}."
            f"\n\n    grad(x) = {f.grad}"
            f"{emitted}\n\nArgs:\n{arg_text}\n\n"
            f"Returns:\n{returns('grad(x)')}\n\n{raises}\n\n"
            "Differentiable in every mode without evaluating an unselected ``torch.where``\n"
            "branch (an autograd.Function carrying the symbolic derivatives).\n"
            f"{source}"
        ),
        "spike": (
            f"Spike with the {spec.title} surrogate gradient."
            "\n\n    spike(x) = 1 if x >= 0 else 0   (1 at x = -0.0, 0 for NaN)\n"
            "    d spike / dx := grad(x)           (backward pass only)\n\n"
            f"Args:\n{arg_text}\n\n"
            f"Returns:\n{returns('0.0 or 1.0')}\n"
            "  Reverse mode (``backward``, ``torch.func.grad``, ``vjp``, ``jacrev``) gives\n"
            "  ``g * grad(x, ...)`` for ``x``, forward mode (``torch.func.jvp``, ``jacfwd``)\n"
            "  ``grad(x, ...) * tangent``; the parameters get no gradient (None). Works under\n"
            "  ``torch.func.vmap`` and ``torch.compile(fullgraph=True)``.\n\n"
            f"{raises}\n\n"
            f"{example}"
        ),
        "class": (
            f"{spec.title} spike function as a ``torch.nn.Module`` with fixed parameters.\n\n"
            "Args:\n"
            + "\n".join(
                wrap(
                    f"  {p.name}: {param_doc(p, buffer)}",
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
            + "Raises:\n  TypeError: a parameter is neither a number nor a tensor.\n\n"
            "Example:\n  >>> import torch\n"
            f"  >>> from surrogen.torch import {class_name}\n"
            f"  >>> {class_name}()(torch.tensor([-0.5, 0.5]))\n  tensor([0., 1.])"
        ),
    }


def view(checked: CheckedModel) -> TorchView:
    model, spec = checked.model, checked.model.spec
    printer = TorchPrinter()
    params = [p.name for p in spec.params]
    names = ["x", *params]
    integer = [p.domain == "integer" for p in spec.params]

    def by_param(expr: sympy.Expr) -> list[sympy.Expr | None]:
        """d expr / d parameter; None for an integer parameter (no derivative)."""
        return [
            None if is_int else pointwise_diff(expr, s)
            for is_int, s in zip(integer, model.params, strict=True)
        ]

    # The derivatives as SymPy writes them, not the finite forms the JAX chain emits: autograd
    # differentiates these helpers again (second order), and through a torch.where it would meet
    # the unselected branch of a rewrite (1/x beyond a crossover) as NaN. A finite Sum unrolled.
    origin_partials, origin_helpers = "", list[Helper]()
    has_origin = checked.emitted_origin is not None and model.origin is not None
    if has_origin:
        exact_origin = model.expanded(model.origin)
        origin_partials, origin_helpers = _partials(
            "origin", names, ["grad", *by_param(exact_origin)], printer, checked
        )
    d_grad_dx = pointwise_diff(checked.emitted_grad, model.x)
    grad_partials, grad_helpers = _partials(
        "grad", names, [d_grad_dx, *by_param(checked.emitted_grad)], printer, checked
    )
    f = formulas(checked)
    if has_origin:
        formula = (
            "``spike`` is the Heaviside step in the forward pass and ``g * grad(x, ...)`` in the\n"
            "backward pass, where ``grad`` is the derivative of the smooth ``origin``:\n\n"
            f"    origin(x) = {f.origin}\n    grad(x)   = {f.grad}\n\n"
            f"Functions ``spike``, ``origin``, ``grad``; class ``{spec.class_name}``"
        )
    else:
        formula = (
            "``spike`` is the Heaviside step in the forward pass and ``g * grad(x, ...)`` in the\n"
            f"backward pass:\n\n    grad(x) = {f.grad}\n\n"
            f"{wrap(GRADIENT_ONLY, width=DOC_WIDTH)}\n\n"
            f"Functions ``spike``, ``grad``; class ``{spec.class_name}``"
        )
    module_doc = (
        f"{spec.title} surrogate spike function for PyTorch.\n\n"
        f"{wrap(spec.summary, width=DOC_WIDTH)}\n\n"
        f"{formula}"
        " (a ``torch.nn.Module``).\n"
        "Each works under autograd, ``torch.func`` (grad, vjp, jvp, vmap, jacrev, jacfwd,\n"
        "hessian) and ``torch.compile``, on every device, in float16, bfloat16, float32 and\n"
        f"float64. Formulas, checked sources and plots: docs/{spec.name}.md."
    )
    return TorchView(
        name=spec.name,
        class_name=spec.class_name,
        module_doc=module_doc,
        signature=", ".join(["x", *(f"{p.name}={p.default!r}" for p in spec.params)]),
        call=", ".join(names),
        names=as_tuple([f'"{n}"' for n in names]),
        prepared=", ".join(["_dtype", *names]),
        init_signature=", ".join([*param_list(spec.params), *["spiking=True"] * has_origin]),
        params=as_tuple(params) if params else "()",
        self_call=", ".join(["x", *(f"self.{n}" for n in params)]),
        origin=print_cse(guarded(checked.emitted_origin, checked.guard), printer, model.x)
        if checked.emitted_origin is not None
        else None,
        grad=print_cse(guarded(checked.emitted_grad, checked.guard), printer, model.x),
        helpers=(*origin_helpers, *grad_helpers),
        partials={
            "origin": origin_partials,
            "grad": grad_partials,
            "spike": as_tuple(["grad", *["None"] * len(params)]),
        },
        docs=_docs(checked, spec.class_name),
        all_names=tuple(sorted([spec.class_name, "grad", "spike", *["origin"] * has_origin])),
        checks=param_checks(spec, "_check_param"),
        self_checks=param_checks(spec, "_check_param", "self."),
    )


class TorchBackend(Backend):
    name = "torch"
    title = "PyTorch"
    requires = ("torch",)
    reserved = frozenset(
        # module-level names of every generated module, the Module's own arguments and the
        # built-in its __init__ calls
        {"origin", "grad", "spike", "spiking", "self", "super"} | MODULE_ATTRIBUTES
    )

    def printer_reserved(self) -> frozenset[str]:
        return TorchPrinter.reserved_names

    def api_doc(self, checked: CheckedModel) -> ApiDoc:
        spec = checked.model.spec
        kw = ", ".join(param_list(spec.params))
        args = f", {kw}" if kw else ""
        example = (
            "import torch\n\n"
            f"from surrogen.torch import {spec.class_name}, {spec.name}\n\n"
            "x = torch.linspace(-2.0, 2.0, 5, requires_grad=True)  # x = v - v_threshold\n"
            f"spikes = {spec.name}.spike(x{args})  # the Heaviside step forward\n"
            "spikes.sum().backward()  # the surrogate gradient backward\n"
            f"assert torch.equal(x.grad, {spec.name}.grad(x.detach(){args}))\n"
            f"layer = {spec.class_name}({kw})  # a torch.nn.Module"
            + ("; spiking=False: the origin\n" if checked.emitted_origin is not None else "\n")
            + "print(spikes, x.grad, layer)\n"
        )
        note = (
            "For the CPU-only wheel, install `torch==2.13.0+cpu` first (the default wheel brings"
            " the CUDA libraries)."
        )
        return ApiDoc(self.title, f"surrogen.torch.{spec.name}", "torch", example, note)

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        outs = [
            Output(
                f"torch/{c.model.spec.name}.py",
                c.model.spec.path,
                "torch/SURROGATE.py.jinja",
                {"v": view(c)},
            )
            for c in models
        ]
        index = package_index(
            "PyTorch surrogate spike functions",
            "from surrogen.torch import sigmoid, Sigmoid",
            models,
            with_classes=True,
        )
        outs.append(Output("torch/__init__.py", ALL_SPECS, "_shared/__init__.py.jinja", index))
        return outs

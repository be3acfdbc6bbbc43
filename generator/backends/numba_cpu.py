"""The Numba CPU backend: NumPy ufuncs (``numba.vectorize``) with float32 and float64 loops.

Generated modules import ``surrogen.runtime.numba_cpu`` (typed literals, branch-free select).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from ..checks import CheckedModel
from ..printers import Printed, finite_guarded, guarded, print_cse, speculation_safe
from .base import ALL_SPECS, ApiDoc, Backend, Output, as_tuple, package_index, wrap
from .docstrings import GRADIENT_ONLY, INVALID_NAN, X_DOC, formulas, param_doc
from .numba import NumbaPrinter

SCALARS = ("_f32", "_f64")  # the ufunc loops, as the generated module imports the Numba types


@dataclass(frozen=True)
class NumbaCpuView:
    name: str
    module_doc: str
    call: str  # "x, alpha"
    kernel_args: str  # "_x, alpha"
    param_names: tuple[str, ...]  # ("alpha",): widened to float64 in the kernels
    typed_call: str  # "x, _like(x, alpha)": the parameters in x's type
    bwd_call: str  # "x, g, alpha"
    signatures: dict[int, str]  # number of leading array arguments -> ufunc signature list
    defaults: str  # '{"alpha": 4.0}'
    lif_signature: str  # "config=None, alpha=4.0"
    params_tuple: str  # "(alpha,)" / "()"
    origin: Printed | None  # None: a gradient-only family
    grad: Printed
    origin_wide: bool  # the origin kernel computes float32 input in float64 (``widened``)
    grad_wide: bool
    docs: dict[str, str]
    all_names: tuple[str, ...]


def _signatures(leading: int, params: int) -> str:
    """Loops of a ufunc with ``leading`` array arguments (x, then g) and ``params`` parameters.

    The output type is x's, whatever the other arguments' types: each x type gets loops for
    float32 and float64 g and parameters (parameters share one type: mixed ones cast safely to
    float64), ordered so that NumPy's first match is the cheapest. Inside ``@numba.njit`` a float
    literal is float64, and a float32 x still picks a float32 loop.
    """
    loops = []
    for x in SCALARS:
        others = SCALARS if x == "_f32" else ("_f64",)
        rest = (
            [(g, p) for g in others for p in others] if leading == 2 else [("", p) for p in others]
        )
        for g, p in rest:
            args = [x] + ([g] if g else []) + [p] * params
            loops.append(f"{x}({', '.join(args)})")
    return "[" + ", ".join(dict.fromkeys(loops)) + "]"


MAX_VECTOR_EXP = 2
# A kernel whose float32 evaluation errs by more than WIDEN_ABOVE (relative, on the generator's
# float grid, at the defaults and at the perturbed parameters) computes float32 input in float64
# and rounds once, where its float64 evaluation errs by at most WIDE_ENOUGH: 2**-23 is 1-2 ulp,
# so the kernels left in float32 stay within the 2-ulp target, and the widened ones reach it
# (2**-26 adds at most a quarter of an ulp to the final rounding). See ``widened``.
WIDEN_ABOVE = 2.0**-23
WIDE_ENOUGH = 2.0**-26


def widened(max_rel: tuple[float, float] | None) -> bool:
    """Whether a kernel computes float32 input in float64 (and rounds once, at its end), from
    its (float32, float64) worst relative errors.

    Each float32 rounding inside a formula costs up to an ulp (a sigmoid's 1 + e, its square
    and the quotient: 3.5 ulp) and a sum that cancels near a sign change hundreds; evaluated in
    float64, float32 input is within about half an ulp. float64 arithmetic costs more (half the
    vector width, slower square roots and divisions, libm's float64 functions: 10-80% on this
    machine's benchmark, 4x for a general power), so only the kernels that miss the target in
    float32 and reach it in float64 pay for it (a periodic family's large-x phase is lost in
    float64 too).
    """
    return max_rel is not None and max_rel[0] > WIDEN_ABOVE and max_rel[1] <= WIDE_ENOUGH


def view(checked: CheckedModel) -> NumbaCpuView:
    model, spec = checked.model, checked.model.spec
    params = [p.name for p in spec.params]

    def printed(expr: sympy.Expr, branch_free: bool, wide: bool) -> Printed:
        quiet = finite_guarded(speculation_safe(expr, model.x), model.x)
        full = guarded(quiet, checked.guard)
        # The runtime's float32 exp pays off only in a loop LLVM vectorises, where it is slower
        # than libm's expf. Measured (LLVM 20): loops with one or two exp vectorise, with three
        # or with a ``%`` (periodic families) they stay scalar.
        vector_exp = len(full.atoms(sympy.exp)) <= MAX_VECTOR_EXP and not full.has(sympy.Mod)
        printer = NumbaPrinter(
            "_like(x, {})",
            "_select" if branch_free else None,
            quiet=True,
            vector_exp=vector_exp,
            witness="_x" if wide else None,
        )
        return print_cse(full, printer, model.x)

    f = formulas(checked)
    how = "A float or an array broadcastable against ``x`` (per-neuron values)."
    args = [f"  x: {X_DOC}: a float32 or float64 array of any shape, or a scalar."]
    args += [f"  {p.name}: {param_doc(p, how, INVALID_NAN)}" for p in spec.params]
    arg_text = "\n".join(wrap(a, indent="    ", first="  ", width=92) for a in args)
    source = wrap(f"Source: {f.source}", width=92)
    positional = ", ".join(["x", *params])
    returns = (
        "Returns:\n  An array of the broadcast shape of the arguments, in ``x``'s dtype whatever"
        " the types\n  of the other arguments; NaN where ``x`` is NaN."
    )
    formula = (
        f"    origin(x) = {f.origin}\n    grad(x)   = {f.grad}\n\n"
        if f.origin
        else f"    grad(x) = {f.grad}\n\n{wrap(GRADIENT_ONLY, width=92)}\n\n"
    )
    functions = f"``spike(x)``, ``origin({positional})``, ``grad({positional})`` and\n"
    if not f.origin:
        functions = f"``spike(x)``, ``grad({positional})`` and\n"
    module_doc = (
        f"{spec.title} surrogate for Numba on the CPU (ufuncs, float32 and float64)."
        f"\n\n{wrap(spec.summary, width=92)}\n\n"
        f"{formula}"
        f"{functions}"
        f"``spike_bwd({', '.join(['x', 'g', *params])})`` = g * grad: parameters are positional"
        " in spec order\n(ufuncs take no keywords; defaults in ``DEFAULTS``) and broadcast like"
        " any ufunc argument\n(any strides; ``out=`` any array of the broadcast shape). The"
        " result has x's dtype whatever the\ntypes of ``g`` and the parameters, also inside"
        " ``@numba.njit`` code. float16 has no Numba loop: it is\ncomputed in the float32 loop"
        " (pass ``out=np.empty_like(x)`` to keep float16). NaN in x gives NaN,\nwithout a"
        " floating-point warning.\n"
        f"Formulas, checked sources and plots: docs/{spec.name}.md."
    )
    docs = {
        "spike": (
            "Heaviside step: 1 if x >= 0 else 0, in x's dtype (1 at x = -0.0; 0 for NaN and for\n"
            "negative subnormals)."
        ),
        "origin": (
            f"{spec.title} origin: the smooth function whose derivative is ``grad``.\n\n"
            f"    origin(x) = {f.origin}\n\nArgs:\n{arg_text}\n\n{returns}\n\n{source}"
        ),
        "grad": (
            f"{spec.title} surrogate gradient{': d origin / dx' if f.origin else ''}."
            f"\n\n    grad(x) = {f.grad}\n\n"
            f"Args:\n{arg_text}\n\n{returns}\n\n{source}"
        ),
        "spike_bwd": (
            "Backward pass of ``spike``: the incoming gradient ``g`` times ``grad(x, ...)``.\n\n"
            "Args: as ``grad``, and ``g`` (the gradient of the loss with respect to the spikes)"
            "\n  after ``x``, broadcastable against it.\n\n"
            f"{returns}"
        ),
    }
    origin_name = ["origin"] if checked.emitted_origin is not None else []
    return NumbaCpuView(
        name=spec.name,
        module_doc=module_doc,
        call=positional,
        kernel_args=", ".join(["_x", *params]),
        param_names=tuple(params),
        typed_call=", ".join(["x", *(f"_like(x, {p})" for p in params)]),
        bwd_call=", ".join(["x", "g", *params]),
        signatures={n: _signatures(n, len(params)) for n in (1, 2)},
        defaults="{" + ", ".join(f'"{p.name}": {p.default!r}' for p in spec.params) + "}",
        lif_signature=", ".join(["config=None", *(f"{p.name}={p.default!r}" for p in spec.params)]),
        params_tuple=as_tuple(params) if params else "()",
        origin=(
            printed(
                checked.emitted_origin,
                checked.origin_branch_free,
                widened(checked.origin_max_rel),
            )
            if checked.emitted_origin is not None
            else None
        ),
        grad=printed(checked.emitted_grad, checked.grad_branch_free, widened(checked.grad_max_rel)),
        origin_wide=widened(checked.origin_max_rel),
        grad_wide=widened(checked.grad_max_rel),
        docs=docs,
        all_names=("DEFAULTS", "fused_lif", "grad", *origin_name, "spike", "spike_bwd"),
    )


class NumbaCpuBackend(Backend):
    name = "numba_cpu"
    title = "Numba (CPU)"
    requires = ("numba",)
    reserved = frozenset(
        {"numba", "g", "origin", "grad", "spike", "spike_bwd", "DEFAULTS", "config", "fused_lif"}
    )

    def printer_reserved(self) -> frozenset[str]:
        return NumbaPrinter.reserved_names

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        outs = [
            Output(
                f"numba_cpu/{c.model.spec.name}.py",
                c.model.spec.path,
                "numba_cpu/SURROGATE.py.jinja",
                {"v": view(c)},
            )
            for c in models
        ]
        index = package_index(
            "Numba CPU surrogate kernels (NumPy ufuncs)",
            "from surrogen.numba_cpu import sigmoid",
            models,
            with_classes=False,
        )
        outs.append(Output("numba_cpu/__init__.py", ALL_SPECS, "_shared/__init__.py.jinja", index))
        return outs

    def api_doc(self, checked: CheckedModel) -> ApiDoc:
        spec = checked.model.spec
        positional = "".join(f", {p.default!r}" for p in spec.params)
        example = (
            "import numpy as np\n\n"
            f"from surrogen.numba_cpu import {spec.name}\n\n"
            "x = np.linspace(-2.0, 2.0, 5, dtype=np.float32)  # x = v - v_threshold\n"
            f"g = {spec.name}.spike_bwd(x, np.ones_like(x){positional})"
            "  # g * grad(x): float32 in, float32 out\n"
            f"print({spec.name}.spike(x), g, {spec.name}.DEFAULTS)\n"
        )
        note = (
            "Parameters are positional, in the order of the parameter table (ufuncs take no"
            " keywords)."
        )
        return ApiDoc(self.title, f"surrogen.numba_cpu.{spec.name}", "numba", example, note)

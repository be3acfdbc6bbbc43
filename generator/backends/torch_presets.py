"""The PyTorch presets backend: ``surrogen.torch.presets.<library>``, one module per PyTorch
library, with the library's own class and function names, keywords, defaults, scale and forward
convention, computed by surrogen's family functions (``surrogen.torch.<family>``).

The presets are data in the specs (``presets:``); this plug-in knows only how each library shapes
its API (SpikingJelly's ``nn.Module`` classes and ``autograd.Function`` functionals, snnTorch's
factories, Norse's functions, sinabs' gradient dataclasses called with ``(v_mem,
spike_threshold)``, lava-dl's and Rockpool's Functions of the raw membrane potential) and which of
its names are not surrogates.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.printing.precedence import PRECEDENCE

from ..checks import CheckedModel, PresetFacts
from ..spec import Preset
from .base import Backend, Output, wrap
from .libraries import LIBRARIES
from .torch import TorchPrinter

DOC_WIDTH = 92
FORWARD_TEXT = {
    "ge": "``1 if x >= 0 else 0`` (1 at x = -0.0, 0 for NaN)",
    "gt": "``1 if x > 0 else 0`` (0 at x = +-0.0 and for NaN)",
    "half": "``0.5 + 0.5 * sign(x)`` (0.5 at x = +-0.0, NaN for NaN)",
    "graded": "the graded spike ``voltage * (voltage >= threshold) / scale``",
}
COUNT_TEXT = (
    "Rockpool's spike count ``floor(x / threshold)`` where ``x >= threshold`` (else 0), at most"
    " ``max_spikes_per_dt``"
)


@dataclass(frozen=True)
class Style:
    """How a library shapes its surrogate API.

    ``classes``: "module" (``nn.Module`` with ``spiking``, SpikingJelly), "autograd" (a class
    whose static ``apply(x, *params)`` gives the spikes, as an ``autograd.Function``), "grad"
    (sinabs: a dataclass called as ``(v_mem, spike_threshold)`` returning the gradient),
    "membrane" (lava-dl, Rockpool: ``apply(v, threshold, ...)`` of the raw membrane potential).
    ``functions``: "autograd" (SpikingJelly's lowercase Functions, ``f.apply(x, *params)``),
    "factory" (``f(**params)`` returns an activation), "function" (``f(x, **params)``) or "".
    """

    classes: str
    functions: str = ""
    membrane: tuple[str, str] = ("x", "threshold")  # the input and threshold of grad/membrane
    tail: tuple[tuple[str, str], ...] = ()  # keywords after the preset's (name, default text)
    count: bool = False  # the forward counts spikes (Rockpool)
    extras: tuple[tuple[str, str], ...] = ()  # module names bound to surrogen.runtime.torch names
    aliases: tuple[tuple[str, str], ...] = ()  # module names bound to another generated name
    missing: tuple[tuple[str, str], ...] = ()  # library names not provided, and why
    # "grad" classes: library fields the preset reproduces at one value only (class, field,
    # default, why), accepted in the library's position and refused at any other value
    fixed: tuple[tuple[str, str, str, str], ...] = ()


STYLES: dict[str, Style] = {
    "spikingjelly": Style(
        classes="module",
        functions="autograd",
        extras=(("heaviside", "heaviside"),),
        missing=(
            ("PoissonPass", "a Bernoulli forward (stochastic), not a deterministic surrogate"),
            (
                "MultiLevelSpikeCount",
                "a multi-level (spike count) forward with a clipped straight-through gradient",
            ),
        ),
    ),
    "spikingjelly_cupy": Style(
        classes="module", functions="autograd", extras=(("heaviside", "heaviside"),)
    ),
    "snntorch": Style(
        classes="autograd",
        functions="factory",
        missing=(
            ("SSO", "a stochastic gradient (uniform noise below the threshold)"),
            ("LSO", "snnTorch's own raises TypeError (it calls StochasticSpikeOperator)"),
            ("custom_surrogate", "a hook for user-written gradients, not a surrogate"),
        ),
    ),
    "norse": Style(
        classes="autograd",
        functions="function",
        extras=(("heaviside", "heaviside_strict"),),
        aliases=(("superspike_fn", "super_fn"),),
        missing=(
            ("logistic_fn", "a Bernoulli forward (stochastic)"),
            ("circ_dist_fn", "a Bernoulli forward (stochastic)"),
            (
                "threshold",
                "a dispatch by name (method, alpha) over the functions here: call them directly",
            ),
        ),
    ),
    "sinabs": Style(
        classes="grad",
        membrane=("v_mem", "spike_threshold"),
        fixed=(
            (
                "MultiGaussian",
                "mu",
                "0.0",
                "sinabs' mu shifts the central Gaussian only, which no multi_gaussian member"
                " does; use mu = 0 (sinabs' default)",
            ),
        ),
    ),
    "lava_dl": Style(
        classes="membrane",
        membrane=("voltage", "threshold"),
        tail=(("graded_spike", "False"), ("voltage_last", "None"), ("scale", "None")),
    ),
    "rockpool": Style(
        classes="membrane",
        membrane=("x", "threshold"),
        tail=(("max_spikes_per_dt", "65536.0"),),
        count=True,
    ),
}


@dataclass(frozen=True)
class PresetView:
    key: str  # suffix of the private helpers: _grad_<key>, _origin_<key>
    class_name: str
    function: str
    signature: str  # "alpha=4.0, beta=1.0" (the library's keywords, with defaults)
    names: tuple[str, ...]  # the library's parameters, in order
    args: str  # ", alpha, beta" (after x) or ""
    params_tuple: str  # "(alpha, beta)" or "()"
    self_args: str  # ", self.alpha, self.beta"
    grad: str  # the gradient, an expression of x and the parameters
    origin: str | None  # the origin (SpikingJelly's spiking=False), where the family has one
    tensor_params: tuple[str, ...]  # parameters the origin compares: made tensors first
    forward: str
    # "grad"/"membrane" classes: the constructor's fields, the call's signature and arguments
    fields: tuple[tuple[str, str], ...]  # (name, default) of the dataclass fields
    fixed: tuple[tuple[str, str, str], ...]  # (field, default, repr(why)): refused otherwise
    call_signature: str  # "v_mem, spike_threshold" / "voltage, threshold, tau_rho=1.0, ..."
    call_x: str  # "v_mem - spike_threshold"
    call_args: str  # ", self.grad_width, self.grad_scale, spike_threshold"
    doc_function: str
    doc_class: str
    when: str = ""  # this preset is a mode of its class: the keyword that selects it
    # the class's other mode, selected by its ``when`` keyword (lava-dl's graded spike)
    mode: PresetView | None = None


@dataclass(frozen=True)
class LibraryView:
    name: str
    module_doc: str
    families: tuple[str, ...]  # the family modules to import
    style: Style
    presets: tuple[PresetView, ...]
    all_names: tuple[str, ...]


def _numbers(expr: sympy.Expr) -> sympy.Expr:
    """Numeric subexpressions (``sqrt(2)``) as floats: a parameter map is evaluated on Python
    numbers as well as tensors, and ``torch.sqrt(2)`` takes no number."""
    return expr.replace(
        lambda e: e.is_number and not e.is_Atom, lambda e: sympy.Float(e.evalf(20), 17)
    )


def _code(printer: TorchPrinter, expr: sympy.Expr) -> str:
    return str(printer.doprint(_numbers(expr)))


def _factor(printer: TorchPrinter, expr: sympy.Expr) -> str:
    """``expr * `` as a factor, or "" for 1."""
    if expr == 1:
        return ""
    return f"{printer.parenthesize(_numbers(expr), PRECEDENCE['Mul'])} * "


def _call(checked: CheckedModel, facts: PresetFacts, fn: str, printer: TorchPrinter) -> str:
    pm = facts.model
    args = [_code(printer, pm.x_map)]
    args += [_code(printer, e) for e in pm.family]
    return f"_f_{checked.model.spec.name}.{fn}({', '.join(args)})"


def _integral(facts: PresetFacts) -> str:
    return f"{facts.integral:.6g}" if facts.integral is not None else "does not converge"


def _doc(
    checked: CheckedModel, facts: PresetFacts, library: str, what: str, has_origin: bool
) -> str:
    """The docstring of a preset's function (``what`` = the style's functions) or class."""
    pm, preset = facts.model, facts.model.preset
    spec = checked.model.spec
    lib, style = LIBRARIES[library], STYLES[library]
    name = preset.function if what in ("factory", "function", "autograd-function") else None
    name = name or preset.class_name
    family_args = ", ".join(
        f"{p.name}={sympy.sstr(e)}" for p, e in zip(spec.params, pm.family, strict=True)
    )
    x_map = sympy.sstr(pm.x_map)
    scale = "" if pm.scale == 1 else f"{sympy.sstr(pm.scale)} * "
    quoted = " ".join(preset.grad.split())
    forward = COUNT_TEXT if style.count else FORWARD_TEXT[preset.forward]
    v, thr = style.membrane
    lines = [
        wrap(f"``{lib.module}.{name}``, as surrogen's ``{spec.name}`` family.", width=DOC_WIDTH),
        "",
        "    grad(x) = " + wrap(quoted, indent=" " * 14, width=DOC_WIDTH).lstrip(),
        f"            = {scale}{spec.name}.grad({x_map}{', ' if family_args else ''}{family_args})",
        "",
        wrap(
            f"The library's code, checked equal at 40 digits; at the defaults the gradient at 0 is"
            f" {facts.grad_at_0:.6g}, its peak {facts.peak:.6g} and its integral"
            f" {_integral(facts)}. Forward: {forward}, in x's floating dtype.",
            width=DOC_WIDTH,
        ),
    ]
    if style.classes in ("grad", "membrane"):
        lines += [
            "",
            wrap(
                f"Here x = {v} - {thr}: the library passes the raw membrane potential ``{v}``"
                f" and the threshold ``{thr}``.",
                width=DOC_WIDTH,
            ),
        ]
    if preset.note:
        lines += ["", wrap(preset.note, width=DOC_WIDTH)]
    ignored = dict(preset.ignored)
    args = []
    if what in ("function", "autograd-class", "autograd-function"):
        args.append("x: membrane potential minus threshold; a tensor of any shape, float dtype.")
    for pname, default in preset.params:
        text = f"the library's ``{pname}``, default ``{default!r}``."
        if pname in ignored:
            text += f" Accepted and ignored: {ignored[pname]}"
        else:
            text += " A float or a tensor broadcasting against x (per-neuron values)."
        args.append(f"{pname}: {text}")
    if what == "module":
        args.append(
            "spiking: True (default): the step forward with grad(x) backward. False: "
            + (
                "the smooth origin forward (SpikingJelly's primitive function), with its true"
                " gradient."
                if has_origin
                else "not available, the family has no origin (raises NotImplementedError)."
            )
        )
    head = "Attributes:" if what in ("module", "grad") else "Args:"
    lines += ["", head, *(wrap(a, indent="    ", first="  ", width=DOC_WIDTH) for a in args)]
    returns = {
        "function": "The spikes, in the broadcast shape of x and the parameters, x's floating"
        " dtype; their derivative in x is grad(x) (the parameters get none).",
        "autograd-class": "``apply(x, ...)`` gives the spikes, in x's floating dtype; their"
        " derivative in x is grad(x) (the parameters get none).",
        "autograd-function": "``apply(x, ...)`` gives the spikes, in x's floating dtype; their"
        " derivative in x is grad(x) (the parameters get none).",
        "factory": "A function of ``x`` giving the spikes, whose derivative is grad(x).",
        "module": "Calling it on x gives the spikes (``spiking=True``) or the origin.",
        "grad": f"Calling it as ``({v}, {thr})`` gives grad({v} - {thr}), as the library's;"
        f" ``spike({v}, {thr})`` gives the spikes with that gradient.",
        "membrane": f"``apply({v}, {thr}, ...)`` gives the spikes of x = {v} - {thr} with"
        f" grad(x) as derivative in ``{v}``.",
    }[what]
    lines += ["", "Returns:" if what in ("function", "factory") else "Note:"]
    lines.append(wrap(returns, indent="  ", width=DOC_WIDTH))
    return "\n".join(lines)


def _key(preset: Preset) -> str:
    """``atan``, ``step_pwl``, ``single_exponential``, ``spike_graded_spike``: the helpers'
    suffix."""
    if preset.function:
        return preset.function
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", preset.class_name).lower()
    return f"{key}_{preset.when}" if preset.when else key


def preset_view(checked: CheckedModel, facts: PresetFacts, library: str) -> PresetView:
    pm, preset = facts.model, facts.model.preset
    style = STYLES[library]
    printer = TorchPrinter()
    names = tuple(name for name, _ in preset.params)
    grad = _factor(printer, pm.scale) + _call(checked, facts, "grad", printer)
    origin = None
    tensor_params: tuple[str, ...] = ()
    if pm.origin is not None and style.classes == "module":  # spiking=False needs it
        # an offset that depends on a parameter's sign (a Piecewise) compares it with torch.lt
        tensor_params = tuple(sorted(str(s) for s in sympy.sympify(pm.offset).free_symbols))
        origin = _factor(printer, pm.origin_factor) + _call(checked, facts, "origin", printer)
        if pm.offset != 0:
            origin = f"{origin} + {printer.parenthesize(pm.offset, PRECEDENCE['Add'])}"
    v, thr = style.membrane
    defaults = dict(preset.params)
    fixed = tuple((f, d, repr(why)) for c, f, d, why in style.fixed if c == preset.class_name)
    fields = tuple((f, d) for f, d, _ in fixed)
    fields += tuple((n, repr(d)) for n, d in preset.params if n != thr)
    call_args = "".join(f", {n}" if n == thr else f", self.{n}" for n in names)
    if style.classes == "membrane":
        head = [v, f"{thr}={defaults[thr]!r}" if thr in defaults else thr]
        rest = [f"{n}={d!r}" for n, d in preset.params if n != thr]
        call_signature = ", ".join([*head, *rest, *(f"{n}={d}" for n, d in style.tail)])
        call_args = "".join(f", {n}" for n in names)
    else:
        call_signature = f"{v}, {thr}"
    what_class = {"autograd": "autograd-class"}.get(style.classes, style.classes)
    what_function = {"autograd": "autograd-function"}.get(style.functions, style.functions)
    return PresetView(
        key=_key(preset),
        class_name=preset.class_name,
        function=preset.function,
        signature=", ".join(f"{n}={v!r}" for n, v in preset.params),
        names=names,
        args="".join(f", {n}" for n in names),
        params_tuple=f"({', '.join(names)},)" if len(names) == 1 else f"({', '.join(names)})",
        self_args="".join(f", self.{n}" for n in names),
        grad=grad,
        origin=origin,
        tensor_params=tensor_params,
        forward=preset.forward,
        fields=fields,
        fixed=fixed,
        call_signature=call_signature,
        call_x=f"{v} - {thr}",
        call_args=call_args,
        doc_function=_doc(checked, facts, library, what_function, origin is not None)
        if preset.function and style.functions
        else "",
        doc_class=_doc(checked, facts, library, what_class, origin is not None),
        when=preset.when,
    )


def _with_modes(library: str, views: Sequence[PresetView]) -> tuple[PresetView, ...]:
    """Each class with its other mode attached (``when``): the mode emits no class of its own.
    A mode's parameters must be keywords its class already takes, and its forward needs the
    library's ``scale`` keyword (lava-dl's graded spike)."""
    style = STYLES[library]
    modes = {v.class_name: v for v in views if v.when}
    out = []
    for v in views:
        if v.when:
            continue
        mode = modes.pop(v.class_name, None)
        if mode is not None:
            keywords = set(v.names) | {name for name, _ in style.tail} | set(style.membrane)
            if style.classes != "membrane" or mode.when not in keywords or "scale" not in keywords:
                raise ValueError(f"{library}.{v.class_name}: no {mode.when} mode in this style")
            if not set(mode.names) <= keywords:
                raise ValueError(
                    f"{library}.{v.class_name}({mode.when}=True): parameters"
                    f" {sorted(set(mode.names) - keywords)} are not keywords of the class"
                )
            text = (
                f"{v.doc_class}\n\nWith ``{mode.when}=True``, the graded spike"
                f" ``{style.membrane[0]} * ({style.membrane[0]} >= {style.membrane[1]}) / scale``"
                f" (``scale`` required) and this gradient:\n\n{mode.doc_class}"
            )
            v = dataclasses.replace(v, mode=mode, doc_class=text)
        out.append(v)
    assert not modes, f"{library}: modes without their class: {sorted(modes)}"
    return tuple(out)


def library_view(library: str, entries: Sequence[tuple[CheckedModel, PresetFacts]]) -> LibraryView:
    lib, style = LIBRARIES[library], STYLES[library]
    presets = _with_modes(library, [preset_view(c, f, library) for c, f in entries])
    names = [p.class_name for p in presets if p.class_name]
    names += [p.function for p in presets if p.function and style.functions]
    names += [name for name, _ in (*style.extras, *style.aliases)]
    missing = "".join(
        "\n\n" + wrap(f"Not provided: ``{name}``, {why}.", width=DOC_WIDTH)
        for name, why in style.missing
    )
    module_doc = (
        f"The surrogates of {lib.title} (``{lib.module}``), reproduced by surrogen.\n\n"
        f"    import surrogen.torch.presets.{library} as surrogate\n\n"
        f"instead of ``import {lib.module} as surrogate`` (code audited at {lib.audited}).\n\n"
        + wrap(
            "The same class and function names, keywords, defaults and scale, and the same"
            " forward convention, so that switching is an import change; the values come from"
            " surrogen's generated family functions (numerically stable forms, every dtype with"
            " x's dtype kept, tensor parameters broadcasting per neuron, torch.func and forward"
            " mode, gradients differentiable again). Each docstring quotes the library's code"
            " formula, which the generator checked equal to the family's at 40 digits.",
            width=DOC_WIDTH,
        )
        + missing
    )
    families = tuple(sorted({c.model.spec.name for c, _ in entries}))
    return LibraryView(
        name=library,
        module_doc=module_doc,
        families=families,
        style=style,
        presets=presets,
        all_names=tuple(sorted(names)),
    )


class TorchPresetsBackend(Backend):
    name = "torch_presets"
    package = "torch.presets"
    requires = ("torch",)

    def api_doc(self, checked: CheckedModel) -> None:
        return None  # one module per library, not per spec

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        by_library: dict[str, list[tuple[CheckedModel, PresetFacts]]] = defaultdict(list)
        for c in models:
            for facts in c.presets:
                preset = facts.model.preset
                for library in (preset.library, *preset.also):
                    if library in STYLES:
                        by_library[library].append((c, facts))
        outs = []
        for library in sorted(by_library):
            entries = by_library[library]
            sources = sorted({c.model.spec.path for c, _ in entries})
            source = sources[0] if len(sources) == 1 else "specs/*.yaml"
            outs.append(
                Output(
                    f"torch/presets/{library}.py",
                    source,
                    "torch_presets/LIBRARY.py.jinja",
                    {"v": library_view(library, entries)},
                )
            )
        context: dict[str, Any] = {
            "libraries": [(name, LIBRARIES[name]) for name in sorted(by_library)],
        }
        outs.append(
            Output(
                "torch/presets/__init__.py",
                "specs/*.yaml",
                "torch_presets/__init__.py.jinja",
                context,
            )
        )
        return outs

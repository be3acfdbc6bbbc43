"""The JAX presets backend: ``surrogen.jax.presets.<library>``, one module per JAX library, with the
library's own class and function names, keywords, defaults and scale, computed by surrogen's family
functions (``surrogen.jax.<family>``).

The presets are data in the specs (``presets:``); this plug-in knows only how each library shapes
its API (classes with ``surrogate_fun``/``surrogate_grad``, functions, or factories returning an
activation) and which of its names are not surrogates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.printing.precedence import PRECEDENCE

from ..checks import CheckedModel, PresetFacts
from ..spec import Preset
from .base import ApiDoc, Backend, Output, wrap
from .docstrings import X_DOC
from .jax import JaxPrinter
from .libraries import LIBRARIES

DOC_WIDTH = 92
FORWARD_TEXT = {
    "ge": "``1 if x >= 0 else 0`` (1 at x = -0.0, 0 for NaN)",
    "gt": "``1 if x > 0 else 0`` (0 at x = +-0.0 and for NaN)",
    "half": "``0.5 + 0.5 * sign(x)`` (0.5 at x = +-0.0, NaN for NaN)",
    "graded": "the graded spike ``voltage * (voltage >= threshold) / scale``",
}


@dataclass(frozen=True)
class Style:
    """How a library shapes its surrogate API."""

    classes: bool  # classes with surrogate_fun / surrogate_grad (braintools)
    functions: str  # "function": f(x, **params); "factory": f(**params) -> activation(x)
    extras: tuple[tuple[str, str], ...] = ()  # module names bound to surrogen.runtime.jax names
    missing: tuple[tuple[str, str], ...] = ()  # library names not provided, and why


_BRAINTOOLS = Style(classes=True, functions="function", extras=(("Surrogate", "Surrogate"),))
STYLES: dict[str, Style] = {
    "braintools": _BRAINTOOLS,
    "brainpy": _BRAINTOOLS,
    "brainpy2": _BRAINTOOLS,
    "spyx": Style(
        classes=False,
        functions="factory",
        extras=(("heaviside", "heaviside_strict"),),
        missing=(
            (
                "custom",
                "a hook for user-written gradients, not a surrogate (its default gradient is x,"
                " although its docstring promises the straight-through estimator); pass one of"
                " these activations, or write your own jax.custom_vjp",
            ),
        ),
    ),
    "jaxsnn": Style(classes=False, functions="function", extras=(("heaviside", "heaviside_half"),)),
    "snnax": Style(
        classes=False,
        functions="factory",
        missing=(
            (
                "sigmoid_surrogate",
                "snnax's own raises TypeError on its first derivative (it calls"
                " jax.nn.sigmoid(x, beta)); use surrogen.jax.presets.braintools.sigmoid or"
                " surrogen.jax.sigmoid",
            ),
        ),
    ),
}


@dataclass(frozen=True)
class PresetView:
    key: str  # suffix of the private helpers: _grad_<key>, _origin_<key>
    class_name: str
    function: str
    signature: str  # "alpha=4.0, beta=1.0"
    args: str  # ", alpha, beta" (after x) or ""
    self_args: str  # ", self.alpha, self.beta"
    fields: tuple[str, ...]
    repr_fields: str  # "alpha={self.alpha}, beta={self.beta}"
    grad: str
    origin: str | None
    forward: str
    doc_function: str
    doc_class: str


@dataclass(frozen=True)
class LibraryView:
    name: str
    module_doc: str
    families: tuple[str, ...]  # the family modules to import
    style: Style
    presets: tuple[PresetView, ...]
    all_names: tuple[str, ...]


def _code(printer: JaxPrinter, expr: sympy.Expr) -> str:
    return str(printer.doprint(expr))


def _factor(printer: JaxPrinter, expr: sympy.Expr) -> str:
    """``expr * `` as a factor, or "" for 1."""
    if expr == 1:
        return ""
    return f"{printer.parenthesize(expr, PRECEDENCE['Mul'])} * "


def _call(checked: CheckedModel, facts: PresetFacts, fn: str, printer: JaxPrinter) -> str:
    pm = facts.model
    args = [_code(printer, pm.x_map)]
    args += [_code(printer, e) for e in pm.family]
    return f"_f_{checked.model.spec.name}.{fn}({', '.join(args)})"


def _doc(checked: CheckedModel, facts: PresetFacts, library_module: str, what: str) -> str:
    """The docstring of a preset's function (``what`` = "function"/"factory") or class."""
    pm, preset = facts.model, facts.model.preset
    spec = checked.model.spec
    name = preset.class_name if what == "class" else preset.function
    family_args = ", ".join(
        f"{p.name}={sympy.sstr(e)}" for p, e in zip(spec.params, pm.family, strict=True)
    )
    x_map = sympy.sstr(pm.x_map)
    scale = "" if pm.scale == 1 else f"{sympy.sstr(pm.scale)} * "
    quoted = " ".join(preset.grad.split())
    lines = [
        wrap(
            f"``{library_module}.{name}``, as surrogen's ``{spec.name}`` family.", width=DOC_WIDTH
        ),
        "",
        "    grad(x) = " + wrap(quoted, indent=" " * 14, width=DOC_WIDTH).lstrip(),
        f"            = {scale}{spec.name}.grad({x_map}{', ' if family_args else ''}{family_args})",
        "",
        wrap(
            f"The library's code, checked equal at 40 digits; at the defaults the gradient at 0 is"
            f" {facts.grad_at_0:.6g}, its peak {facts.peak:.6g} and its integral"
            f" {_integral(facts)}. Forward: {FORWARD_TEXT[preset.forward]}.",
            width=DOC_WIDTH,
        ),
    ]
    if preset.note:
        lines += ["", wrap(preset.note, width=DOC_WIDTH)]
    ignored = dict(preset.ignored)
    args = [] if what != "function" else [f"x: {X_DOC}; an array of any shape and float dtype."]
    for pname, default in preset.params:
        text = f"the library's ``{pname}``, default ``{default!r}``."
        if pname in ignored:
            text += f" Accepted and ignored: {ignored[pname]}"
        else:
            text += " A float or an array (per-neuron values); may be traced."
        args.append(f"{pname}: {text}")
    head = "Attributes:" if what == "class" else "Args:"
    lines += ["", head, *(wrap(a, indent="    ", first="  ", width=DOC_WIDTH) for a in args)]
    if what == "function":
        lines += [
            "",
            "Returns:",
            "  The spikes, in ``x``'s shape and floating dtype; their derivative is grad(x).",
        ]
    elif what == "factory":
        lines += [
            "",
            "Returns:",
            "  A function of ``x`` giving the spikes, whose derivative is grad(x).",
        ]
    elif pm.quoted_origin is not None:
        lines += [
            "",
            "Calling it gives the spikes; ``surrogate_grad(x)`` is grad(x) and",
            "``surrogate_fun(x)`` its antiderivative, the library's own (checked equal at 40",
            "digits).",
        ]
    elif pm.origin is not None:
        factor = "" if pm.origin_factor == 1 else f"{sympy.sstr(pm.origin_factor)} * "
        lines += [
            "",
            wrap(
                "Calling it gives the spikes; ``surrogate_grad(x)`` is grad(x) and"
                f" ``surrogate_fun(x)`` an antiderivative of it, {factor}{spec.name}.origin("
                f"{x_map}{', ' if family_args else ''}{family_args}) (the library's code has no"
                " origin with this derivative).",
                width=DOC_WIDTH,
            ),
        ]
    else:
        lines += ["", "Calling it gives the spikes; ``surrogate_grad(x)`` is grad(x)."]
    return "\n".join(lines)


def _integral(facts: PresetFacts) -> str:
    return f"{facts.integral:.6g}" if facts.integral is not None else "does not converge"


def _key(preset: Preset) -> str:
    if preset.function:
        return preset.function
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in preset.class_name).lstrip("_")


def preset_view(checked: CheckedModel, facts: PresetFacts, library_module: str) -> PresetView:
    pm, preset = facts.model, facts.model.preset
    printer = JaxPrinter()
    names = [name for name, _ in preset.params]
    grad = _factor(printer, pm.scale) + _call(checked, facts, "grad", printer)
    origin = None
    if pm.origin is not None and STYLES[preset.library].classes:  # surrogate_fun needs it
        origin = _factor(printer, pm.origin_factor) + _call(checked, facts, "origin", printer)
        if pm.offset != 0:
            origin = f"{origin} + {printer.parenthesize(pm.offset, PRECEDENCE['Add'])}"
    kind = STYLES[preset.library].functions
    return PresetView(
        key=_key(preset),
        class_name=preset.class_name,
        function=preset.function,
        signature=", ".join(f"{n}={v!r}" for n, v in preset.params),
        args="".join(f", {n}" for n in names),
        self_args="".join(f", self.{n}" for n in names),
        fields=tuple(names),
        repr_fields=", ".join(f"{n}={{self.{n}}}" for n in names),
        grad=grad,
        origin=origin,
        forward=preset.forward,
        doc_function=_doc(checked, facts, library_module, kind),
        doc_class=_doc(checked, facts, library_module, "class"),
    )


def library_view(library: str, entries: Sequence[tuple[CheckedModel, PresetFacts]]) -> LibraryView:
    lib, style = LIBRARIES[library], STYLES[library]
    presets = tuple(preset_view(c, f, lib.module) for c, f in entries)
    names = [n for p in presets for n in (p.class_name if style.classes else "", p.function) if n]
    names += [name for name, _ in style.extras]
    missing = "".join(
        "\n\n" + wrap(f"Not provided: ``{name}``, {why}.", width=DOC_WIDTH)
        for name, why in style.missing
    )
    module_doc = (
        f"The surrogates of {lib.title} (``{lib.module}``), reproduced by surrogen.\n\n"
        f"    import surrogen.jax.presets.{library} as surrogate\n\n"
        f"instead of ``import {lib.module} as surrogate`` (code audited at {lib.audited}).\n\n"
        + wrap(
            "The same class and function names, keywords, defaults and scale, and the same"
            " forward convention, so that switching is an import change; the values come from"
            " surrogen's generated family functions (numerically stable forms, derivatives of any"
            " order, jit/vmap/grad and forward mode). Each docstring quotes the library's code"
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


class JaxPresetsBackend(Backend):
    name = "jax_presets"
    package = "jax.presets"
    requires = ("jax",)

    def api_doc(self, checked: CheckedModel) -> ApiDoc | None:
        """None: its modules are per library, not per spec (each family's page lists its
        presets in the conversion table)."""
        return None

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
                    f"jax/presets/{library}.py",
                    source,
                    "jax_presets/LIBRARY.py.jinja",
                    {"v": library_view(library, entries)},
                )
            )
        context: dict[str, Any] = {
            "libraries": [(name, LIBRARIES[name]) for name in sorted(by_library)],
        }
        outs.append(
            Output(
                "jax/presets/__init__.py", "specs/*.yaml", "jax_presets/__init__.py.jinja", context
            )
        )
        return outs

"""The docs backend: the site's generated pages (MyST Markdown) and plots, from the checked models.

Per surrogate: a page (formulas, the emitted form and why, parameters, checked published formulas,
"also known as", the API of every code backend in the registry with a runnable example, a plot)
and a gallery card. For all of them: the catalog table, the gallery, the comparison at equal peak
and equal area, the accuracy table and the API reference index. The hand-written pages of the
site (home, guides) live in ``docs/`` at the repository root; ``docs/build.py`` assembles both.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from sympy.printing.latex import LatexPrinter

from .. import forms, plots
from ..checks import CheckedModel, map_specs
from ..spec import Param
from .base import ALL_SPECS, ApiDoc, Backend, Output

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>$|~#])")
_DOMAINS = {"positive": "> 0", "nonnegative": "≥ 0", "real": "real", "integer": "integer"}


def latex(expr: sympy.Expr) -> str:
    """LaTeX for the docs, from the same expressions the code printers see."""
    return LatexPrinter({"ln_notation": True}).doprint(expr)


def _level(value: float | None) -> str:
    """A limit of the origin for the docs: ``$-\\infty$``, ``0``, ``0.425``."""
    if value is None:
        return "no limit (it oscillates)"
    if math.isinf(value):
        return "$+\\infty$" if value > 0 else "$-\\infty$"
    return f"{value:.6g}"


def md(text: str) -> str:
    """Spec text as literal Markdown: ``*``, ``_``, ``$``, ``|`` ... are shown, not interpreted."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


@dataclass(frozen=True)
class FormRow:
    """One candidate form of the gradient in the "why this form" table."""

    name: str
    emitted: bool
    equal: bool
    nonfinite: str
    wrong: str
    max_rel: str
    ops: int


@dataclass(frozen=True)
class BackwardRow:
    source: str
    tex: str
    matches: bool
    how: str
    note: str


@dataclass(frozen=True)
class PageView:
    """Everything one surrogate page prints, as Markdown-ready strings."""

    name: str
    class_name: str
    title: str
    summary: str
    aliases: tuple[tuple[str, str, str], ...]  # (library, name, note), Markdown
    origin: str  # LaTeX; "" for a gradient-only family (no origin)
    grad: str
    emitted: str  # LaTeX of the emitted form ("" when it is the derivative as shown)
    emitted_form: str
    why: str  # why that form
    forms: tuple[FormRow, ...]
    breakpoints: str
    properties: str
    params: tuple[tuple[str, str, str, str], ...]  # (name, default, domain, doc)
    backward: tuple[BackwardRow, ...]
    plot_drawn: str
    plot_notes: tuple[str, ...]
    half_width: str
    apis: tuple[tuple[str, ApiDoc], ...]  # (backend name, its API section)
    notes: str
    references: tuple[str, ...]
    caveats: tuple[str, ...]  # where a higher or parameter derivative has no finite form
    # The origin's limits at -inf and +inf, for an origin that is not a smooth step ("" if it is).
    not_a_step: tuple[str, str] | None
    monotone: bool
    conversions: tuple[ConversionRow, ...]  # one per library preset (the spec's presets:)
    preset_names: tuple[str, ...]  # "braintools.Sigmoid", ...: every library name of the presets


@dataclass(frozen=True)
class ConversionRow:
    """One library preset in the conversion table, as Markdown-ready strings."""

    library: str  # "braintools, brainpy"
    names: str  # "`Sigmoid` / `sigmoid`"
    params: str
    family: str
    x: str
    scale: str
    grad_at_0: str
    peak: str
    integral: str
    forward_at_0: str
    note: str


def _conversion_rows(checked: CheckedModel) -> tuple[ConversionRow, ...]:
    return tuple(
        ConversionRow(
            library=md(", ".join((r.library, *r.also))),
            names=" / ".join(f"`{n}`" for n in r.names),
            params=md(r.params) or "none",
            family=md(r.family) or "-",
            x=md(r.x),
            scale=md(r.scale),
            grad_at_0=number(r.grad_at_0),
            peak=number(r.peak),
            integral=number(r.integral) if r.integral is not None else "diverges",
            forward_at_0="threshold/scale" if math.isnan(r.forward_at_0) else f"{r.forward_at_0:g}",
            note=md(r.note),
        )
        for r in checked.conversions
    )


def _why(checked: CheckedModel) -> str:
    """One sentence: why the emitted form of the gradient was chosen over the raw derivative."""
    tried = {c.name: c for c in checked.grad_candidates}
    chosen = tried.get(checked.emitted_form)
    first = "raw derivative" if checked.model.origin is not None else "declared grad"
    raw = tried.get(first)
    if checked.emitted_form == "grad_impl":
        return (
            "The spec gives this form (`grad_impl`); the generator proved it equal to"
            " d(origin)/dx at 40 digits and checked it in float32 and float64."
        )
    if chosen is None or chosen.score is None:
        return ""
    if raw is None or raw is chosen or raw.score is None:
        what = "derivative as SymPy writes it" if checked.model.origin else "gradient as declared"
        return (
            f"The {what} is emitted: it stays finite and accurate in float32"
            " and float64 on the extreme grid, and no rewrite is cheaper."
        )
    r = raw.score
    if r.nonfinite:
        problem = f"gives NaN or inf where the true value is finite ({r.first_bad})"
    elif r.wrong:
        problem = f"is off by more than the tolerance at {r.wrong} grid points ({r.first_bad})"
    elif r.max_rel_f32 > chosen.score.max_rel_f32:
        problem = (
            f"is less accurate (worst float32 relative error {number(r.max_rel_f32, 2)} against"
            f" {number(chosen.score.max_rel_f32, 2)})"
        )
    else:
        problem = f"needs more operations ({raw.ops} against {chosen.ops})"
    return f"The {checked.emitted_form} form is emitted because the {first} {problem}."


def _form_rows(checked: CheckedModel) -> tuple[FormRow, ...]:
    rows = []
    for c in checked.grad_candidates:
        s = c.score
        rows.append(
            FormRow(
                name=c.name,
                emitted=c.name == checked.emitted_form,
                equal=s is not None,
                nonfinite="—" if s is None else str(s.nonfinite),
                wrong="—" if s is None else str(s.wrong),
                max_rel="—" if s is None else number(s.max_rel_f32, 2),
                ops=c.ops,
            )
        )
    return tuple(rows)


def page_view(
    checked: CheckedModel, plot: plots.PagePlot, apis: Sequence[tuple[str, ApiDoc]]
) -> PageView:
    model, spec = checked.model, checked.model.spec
    emitted = "" if checked.emitted_grad == model.grad else latex(checked.emitted_grad)
    return PageView(
        name=spec.name,
        class_name=spec.class_name,
        title=md(spec.title),
        summary=md(spec.summary),
        aliases=tuple((md(a.library), a.name, md(a.note)) for a in spec.aliases),
        origin=latex(model.origin) if model.origin is not None else "",
        grad=latex(model.grad),
        emitted=emitted,
        emitted_form=checked.emitted_form,
        why=md(_why(checked)).replace("\\`", "`"),
        forms=_form_rows(checked),
        breakpoints=", ".join(number(b, 6) for b in checked.breakpoints),
        properties=", ".join(spec.properties),
        params=tuple((p.name, repr(p.default), _domain(p), md(p.doc)) for p in spec.params),
        backward=tuple(
            BackwardRow(md(b.source), latex(b.expr), b.matches, md(b.how), md(b.note))
            for b in checked.backward
        ),
        plot_drawn=", ".join(plot.drawn),
        plot_notes=tuple(md(n) for n in plot.notes),
        half_width=number(plot.half_width),
        apis=tuple(apis),
        notes=md(spec.notes),
        references=tuple(md(r) for r in spec.references),
        caveats=tuple(md(c) for c in checked.caveats),
        not_a_step=None
        if model.origin is None or checked.step_approximation
        else (
            _level(checked.origin_limits[0] if checked.origin_limits else None),
            _level(checked.origin_limits[1] if checked.origin_limits else None),
        ),
        monotone="monotone" in spec.properties,
        conversions=_conversion_rows(checked),
        preset_names=checked.aliases,
    )


def _domain(p: Param) -> str:
    """``> 0``, ``integer, 1 <= n <= 16``: the domain and any bound (the parameter table)."""
    bounds = p.describe_bounds().removeprefix("an integer").lstrip(", ") if p.bounded else ""
    return md(", ".join(filter(None, (_DOMAINS[p.domain], bounds))))


@dataclass(frozen=True)
class CompareRow:
    name: str
    title: str
    peak: str
    peak_x: str
    area: str
    peak_scale: str
    area_scale: str


def _compare(models: Sequence[CheckedModel]) -> tuple[list[CompareRow], dict[str, plots.Shape]]:
    shapes = {c.model.spec.name: plots.shape(c) for c in models}
    rows = []
    for c in models:
        s = shapes[c.model.spec.name]
        area_ok = s.area is not None and s.area > 0
        rows.append(
            CompareRow(
                name=c.model.spec.name,
                title=md(c.model.spec.title),
                peak=number(s.peak),
                peak_x=number(s.peak_x, 3),
                area=number(s.area)
                if s.area is not None
                else "∞ (origin unbounded)"
                if c.model.origin is not None
                else "— (gradient-only: no origin)",
                peak_scale=number(1 / s.peak) if s.peak else "—",
                area_scale=number(1 / s.area) if area_ok and s.area else "—",
            )
        )
    return rows, shapes


def _accuracy_rows(models: Sequence[CheckedModel]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for c in models:
        chosen = next((f for f in c.grad_candidates if f.name == c.emitted_form), None)
        score = chosen.score if chosen is not None else None
        if score is None:
            continue
        eps = score.max_rel_f32 / float(np.finfo(np.float32).eps)
        rows.append(
            (
                c.model.spec.name,
                c.emitted_form,
                str(score.nonfinite),
                str(score.wrong),
                f"{number(score.max_rel_f32, 2)} ({eps:.1f} ε)",
                "yes" if c.grad_branch_free else "no",
            )
        )
    return rows


class DocsBackend(Backend):
    name = "docs"
    comment = "<!-- {} -->"

    def __init__(self, peers: Sequence[Backend] | None = None) -> None:
        self._peers = peers

    def peers(self) -> Sequence[Backend]:
        """The backends whose API the pages document: the registry, unless given."""
        if self._peers is not None:
            return self._peers
        from . import BACKENDS  # the registry imports this module: look it up when used

        return BACKENDS

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        outs = []
        peers = [b for b in self.peers() if b is not self]
        # The plots are most of the time of a `make gen`: drawn in forked workers when safe.
        fork_safe = not any(module in sys.modules for b in peers for module in b.requires)
        page_plots = map_specs(plots.page_plot, models, fork_safe)
        for c, plot in zip(models, page_plots, strict=True):
            spec = c.model.spec
            apis = [(b.name, a) for b in peers if (a := b.api_doc(c)) is not None]
            context = {"v": page_view(c, plot, apis)}
            outs.append(
                Output(f"docs/{spec.name}.md", spec.path, "docs/SURROGATE.md.jinja", context)
            )
            outs.append(Output(f"docs/img/{spec.name}.png", spec.path, data=plot.png))
        outs += self._shared(models, peers)
        return outs

    def _shared(self, models: Sequence[CheckedModel], peers: Sequence[Backend]) -> list[Output]:
        """The pages and plots made from every spec together."""
        outs = []
        ylim = plots.gallery_frame(models)
        fork_safe = not any(module in sys.modules for b in peers for module in b.requires)
        pngs = map_specs(functools.partial(plots.card_png, ylim=ylim), models, fork_safe)
        for c, png in zip(models, pngs, strict=True):
            outs.append(
                Output(f"docs/img/cards/{c.model.spec.name}.png", c.model.spec.path, data=png)
            )
        rows = [
            (
                c,
                latex(c.model.origin if c.model.origin is not None else c.model.grad).replace(
                    "|", "\\vert "
                ),
                sum(b.matches for b in c.backward),
            )
            for c in models
        ]
        outs.append(Output("docs/index.md", ALL_SPECS, "docs/index.md.jinja", {"rows": rows}))
        cards = [
            (
                c,
                ", ".join(f"{p.name} = {p.default!r}" for p in c.model.spec.params)
                or "no parameters",
            )
            for c in models
        ]
        frame = {
            "half_width": number(plots.GALLERY_HALF_WIDTH),
            "ylim": [number(y, 3) for y in ylim],
        }
        outs.append(
            Output("docs/gallery.md", ALL_SPECS, "docs/gallery.md.jinja", {"cards": cards, **frame})
        )
        compare_rows, shapes = _compare(models)

        def by_peak(c: CheckedModel) -> float | None:
            peak = shapes[c.model.spec.name].peak
            return 1 / peak if peak and not math.isnan(peak) else None

        def by_area(c: CheckedModel) -> float | None:
            area = shapes[c.model.spec.name].area
            return 1 / area if area is not None and area > 0 else None

        peak_png = plots.compare_png(models, by_peak, "every gradient scaled to peak 1")
        area_png = plots.compare_png(models, by_area, "every gradient scaled to area 1")
        outs.append(Output("docs/img/compare_peak.png", ALL_SPECS, data=peak_png))
        outs.append(Output("docs/img/compare_area.png", ALL_SPECS, data=area_png))
        no_area = [r.name for r in compare_rows if r.area_scale == "—"]
        outs.append(
            Output(
                "docs/compare.md",
                ALL_SPECS,
                "docs/compare.md.jinja",
                {"rows": compare_rows, "no_area": no_area, **frame},
            )
        )
        accuracy = {
            "rows": _accuracy_rows(models),
            "grid": ", ".join(f"{x:g}" for x in forms.EXTREME_GRID),
            "dense": forms.DENSE_POINTS,
            "tolerances": {str(k): f"{v:g}" for k, v in forms.FLOAT_CHECKS.items()},
            "accurate_eps": forms.ACCURATE_EPS,
        }
        outs.append(Output("docs/accuracy.md", ALL_SPECS, "docs/accuracy.md.jinja", accuracy))
        intro = plots.intro_model(models)
        outs.append(
            Output("docs/img/intro.png", intro.model.spec.path, data=plots.intro_png(intro))
        )
        apis = [(b, [(c, a) for c in models if (a := b.api_doc(c)) is not None]) for b in peers]
        apis = [(b, pages) for b, pages in apis if pages]
        outs.append(Output("docs/api.md", ALL_SPECS, "docs/api.md.jinja", {"backends": apis}))
        return outs

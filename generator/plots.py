"""Docs plots: byte-deterministic PNGs of the checked models, and the numbers the docs quote.

Every value comes from the high-precision evaluator (never from a backend). A value is drawn as it
is: an exact zero is drawn as zero, and an undefined value (a division by zero, a non-finite
result) is left out of its line (NaN), never drawn as zero. A parameter value outside the
parameter's domain, or one where the formula is undefined almost everywhere (a pole in the
parameter, such as q = 1 of a q-PseudoSpike), is not drawn; the page says why. The x-range covers
every breakpoint and both tails of the gradient down to ``TAIL_FRACTION`` of its peak, or says how
far from zero the tails still are at the edge.

The PNGs carry no software or date metadata, so their bytes depend only on the specs and the pinned
matplotlib.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from .checks import CheckedModel
from .numeric import Evaluator, inside, limit_value, numeric_breakpoints
from .spec import Param

PLOT_DPS = 30  # digits of every plotted value (far beyond what a pixel resolves)
POINTS = 401  # x samples of a curve, plus both sides of every breakpoint
# Beside a breakpoint the curve is sampled at b -+ BESIDE * half-width: a jump is drawn vertical.
BESIDE = 1e-6
# The x-range reaches where |grad| has fallen below this fraction of its peak, on both sides...
TAIL_FRACTION = 0.01
# ... trying these half-widths in turn, and never beyond the last (the page then says how heavy
# the tails still are at the edge).
HALF_WIDTHS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
BREAKPOINT_MARGIN = 1.3  # the half-width is at least 1.3 x the largest |breakpoint|
# A parameter value whose origin or gradient is undefined at more than this fraction of the plotted
# points is not drawn (a pole in the parameter); below it, undefined points are gaps in the line.
UNDEFINED_FRACTION = 0.5
GALLERY_HALF_WIDTH = 4.0  # the gallery's cards share the x-range [-4, 4] and one y-range
INTRO_SPECS = ("sigmoid", "arctan")  # the home page's picture uses the first of these present
DPI = 100

_DOMAIN_TEXT = {
    "positive": "{name} > 0",
    "nonnegative": "{name} >= 0",
    "integer": "{name} an integer",
    "real": "{name} real and finite",
}


@dataclass(frozen=True)
class Variant:
    """One parameter set that is drawn."""

    label: str  # "alpha = 2" ("" for a surrogate without parameters)
    params: tuple[mpmath.mpf, ...]
    is_default: bool


@dataclass(frozen=True)
class Curve:
    """A sampled function: NaN where it is undefined, an exact 0.0 where it is zero."""

    xs: np.ndarray
    ys: np.ndarray

    @property
    def undefined(self) -> int:
        return int(np.isnan(self.ys).sum())


@dataclass(frozen=True)
class PagePlot:
    """The surrogate page's plot and what its text must say about it."""

    png: bytes
    half_width: float
    drawn: tuple[str, ...]  # labels of the drawn parameter values
    notes: tuple[str, ...]  # excluded parameter values, gaps, tails beyond the edge


@dataclass(frozen=True)
class Shape:
    """Numbers of the gradient at the default parameters, for the comparison page."""

    peak: float  # max |grad(x)|
    peak_x: float  # where it is reached (the smallest |x| among equal maxima)
    area: float | None  # origin(+inf) - origin(-inf) = the integral of grad; None if unbounded


# --- values --------------------------------------------------------------------------------------


def _float(value: mpmath.mpf | None) -> float:
    """An evaluated value as a float: undefined -> NaN; zero stays 0.0 (``or`` would lose it)."""
    return math.nan if value is None else float(value)


def sample(f: Evaluator, xs: np.ndarray, params: Sequence[mpmath.mpf]) -> Curve:
    with mpmath.workdps(PLOT_DPS):
        ys = [_float(f(mpmath.mpf(float(x)), params)) for x in xs]
    return Curve(xs, np.array(ys, dtype=np.float64))


def grid(half_width: float, breakpoints: Sequence[float], points: int = POINTS) -> np.ndarray:
    """``points`` evenly spaced x on [-w, w], plus both sides of each breakpoint inside it (the
    breakpoint itself is left out: there the derivative is one-sided by convention)."""
    xs = list(np.linspace(-half_width, half_width, points))
    eps = BESIDE * half_width
    for b in breakpoints:
        if abs(b) < half_width:
            xs += [b - eps, b + eps]
    bps = set(breakpoints)
    return np.array(sorted(x for x in set(xs) if x not in bps), dtype=np.float64)


def _breakpoints(checked: CheckedModel, params: Sequence[mpmath.mpf]) -> list[float]:
    return [float(b) for b in numeric_breakpoints(checked.model, params)]


def _value_text(value: float) -> str:
    return f"{value:g}"


def _in_domain(value: float, param: Param) -> bool:
    """Inside the parameter's domain and its declared bounds."""
    return math.isfinite(value) and inside(param, mpmath.mpf(value))


def _candidates(param: Param) -> list[float]:
    """The default with two neighbours: halved and doubled, -+1 for an integer or for a zero
    default (0.5 and 1 for a nonnegative zero default)."""
    v = param.default
    if param.domain == "integer":
        return [v - 1, v, v + 1]
    if v == 0:
        return [0.0, 0.5, 1.0] if param.domain == "nonnegative" else [-1.0, 0.0, 1.0]
    return [v / 2, v, v * 2]


def variants(checked: CheckedModel) -> tuple[list[Variant], list[str]]:
    """The parameter sets to draw (the first parameter varied around its default), and a note for
    each value left out because it lies outside the parameter's domain."""
    params = checked.model.spec.params
    defaults = tuple(mpmath.mpf(p.default) for p in params)
    if not params:
        return [Variant("", defaults, True)], []
    first = params[0]
    drawn, notes = [], []
    for value in _candidates(first):
        label = f"{first.name} = {_value_text(value)}"
        if not _in_domain(value, first):
            domain = _DOMAIN_TEXT[first.domain].format(name=first.name)
            bounds = first.describe_bounds().removeprefix("an integer").lstrip(", ")
            domain += f", {bounds}" if bounds else ""
            notes.append(f"{label} is not drawn: outside the parameter's domain ({domain}).")
            continue
        drawn.append(Variant(label, (mpmath.mpf(value), *defaults[1:]), value == first.default))
    return drawn, notes


# --- x-range -----------------------------------------------------------------------------------


def _peak(curve: Curve) -> tuple[float, float]:
    """(max |y|, the x where it is reached with the smallest |x|) over the defined points."""
    ys = np.abs(curve.ys)
    if np.all(np.isnan(ys)):
        return math.nan, math.nan
    top = float(np.nanmax(ys))
    at = curve.xs[ys == top]
    return top, float(at[np.argmin(np.abs(at))])


def _tails(grad: Evaluator, params: Sequence[mpmath.mpf], half_width: float, peak: float) -> float:
    """The larger of |grad(-w)| and |grad(w)| relative to the peak (NaN-safe: undefined = 0)."""
    if not peak or math.isnan(peak):
        return 0.0
    with mpmath.workdps(PLOT_DPS):
        edges = [_float(grad(mpmath.mpf(s * half_width), params)) for s in (-1, 1)]
    return max((abs(e) for e in edges if not math.isnan(e)), default=0.0) / peak


def half_width(
    checked: CheckedModel, drawn: Sequence[Variant], peaks: Sequence[float]
) -> tuple[float, float]:
    """The plot's half-width, and the heaviest tail at its edges (a fraction of the peak); ``peaks``
    are the drawn variants' max |grad|."""
    grad = Evaluator(checked.model, checked.model.grad)
    bps = [abs(b) for v in drawn for b in _breakpoints(checked, v.params)]
    least = BREAKPOINT_MARGIN * max(bps, default=0.0)
    tail = 0.0
    for w in HALF_WIDTHS:
        if w < least and w != HALF_WIDTHS[-1]:
            continue
        tail = max(
            (_tails(grad, v.params, w, peak) for v, peak in zip(drawn, peaks, strict=True)),
            default=0.0,
        )
        if tail <= TAIL_FRACTION:
            return max(w, least), tail
    return max(HALF_WIDTHS[-1], least), tail


# --- drawing -----------------------------------------------------------------------------------


@contextmanager
def _figure(**kwargs: Any) -> Iterator[tuple[Any, Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.style.context("default"):
        fig, axes = plt.subplots(**kwargs)
        try:
            yield fig, axes
        finally:
            plt.close(fig)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _axes_style(ax: Any, xlabel: str = "x = v - v_th") -> None:
    ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)  # zero is drawn, so zeros read as zero
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(xlabel)


def _gap_notes(v: Variant, curves: Sequence[tuple[str, Curve | None]]) -> list[str]:
    """A note for each drawn curve with undefined points (left out of its line)."""
    notes = []
    for name, c in curves:
        if c is not None and c.undefined:
            gaps = ", ".join(f"{x:.3g}" for x in c.xs[np.isnan(c.ys)][:3])
            where = f" ({v.label})" if v.label else ""
            notes.append(
                f"The {name}{where} is undefined at {c.undefined} plotted points"
                f" (x = {gaps}{', ...' if c.undefined > 3 else ''}): left out of the line."
            )
    return notes


def page_plot(checked: CheckedModel) -> PagePlot:
    """Origin and gradient for the default and two neighbouring values of the first parameter
    (the gradient alone for a gradient-only family)."""
    model, spec = checked.model, checked.model.spec
    candidates, notes = variants(checked)
    grad = Evaluator(model, model.grad)
    origin = Evaluator(model, model.origin) if model.origin is not None else None

    def curves_at(xs: np.ndarray, v: Variant) -> tuple[Curve | None, Curve]:
        o = sample(origin, xs, v.params) if origin is not None else None
        return o, sample(grad, xs, v.params)

    curves: list[tuple[Variant, Curve | None, Curve]] = []
    w0 = max(HALF_WIDTHS[-1], BREAKPOINT_MARGIN * max(map(abs, checked.breakpoints), default=0))
    for v in candidates:
        o, g = curves_at(grid(w0, _breakpoints(checked, v.params)), v)
        worst = max(o.undefined if o is not None else 0, g.undefined)
        if worst > UNDEFINED_FRACTION * len(g.xs) and not v.is_default:
            notes.append(
                f"{v.label} is not drawn: the formula is undefined there"
                f" (at {worst} of {len(g.xs)} sampled points; a pole in {spec.params[0].name})."
            )
            continue
        curves.append((v, o, g))
    drawn = [v for v, _, _ in curves]
    # The peaks on the widest range (whose grid holds x = 0 and both sides of every breakpoint).
    width, tail = half_width(checked, drawn, [_peak(g)[0] for _, _, g in curves])
    layout = (
        {"nrows": 1, "ncols": 2, "figsize": (8, 3.2)}
        if origin is not None
        else {"nrows": 1, "ncols": 1, "figsize": (4.5, 3.2)}
    )
    with _figure(**layout) as (fig, axes):
        ax1, ax2 = axes if origin is not None else (None, axes)
        for v, _, _ in curves:
            o, g = curves_at(grid(width, _breakpoints(checked, v.params)), v)
            style = {"label": v.label or None, "linewidth": 2.0 if v.is_default else 1.3}
            if ax1 is not None and o is not None:
                ax1.plot(o.xs, o.ys, **style)
            ax2.plot(g.xs, g.ys, **style)
            notes += _gap_notes(v, (("origin", o), ("gradient", g)))
        if ax1 is not None:
            ax1.set_title("origin(x)")
            ax2.set_title("grad(x) = d origin / dx")
        else:
            ax2.set_title("grad(x)")
        for ax in (ax1, ax2):
            if ax is None:
                continue
            _axes_style(ax)
            ax.set_xlim(-width, width)
        if spec.params:
            ax2.legend(fontsize=8)
        fig.suptitle(spec.title)
        fig.tight_layout()
        png = _png(fig)
    if tail > TAIL_FRACTION:
        percent = f"{100 * tail:.0f}" if tail >= 0.1 else f"{100 * tail:.2g}"
        notes.append(
            f"The gradient's tails are heavier than the plotted range shows: at x = ±{width:g}"
            f" it is still {percent}% of its peak."
        )
    return PagePlot(png, width, tuple(v.label for v in drawn if v.label), tuple(notes))


def shape(checked: CheckedModel) -> Shape:
    """Peak and area of the gradient at the default parameters."""
    model = checked.model
    params = tuple(mpmath.mpf(p.default) for p in model.spec.params)
    grad = Evaluator(model, model.grad)
    w = max(GALLERY_HALF_WIDTH, BREAKPOINT_MARGIN * max(map(abs, checked.breakpoints), default=0))
    xs = np.union1d(grid(w, checked.breakpoints, 1001), [0.0])
    peak, at = _peak(sample(grad, xs, params))
    if model.origin is None:  # a gradient-only family: no origin to take the area from
        return Shape(peak, at, None)
    origin = Evaluator(model, model.origin)
    with mpmath.workdps(PLOT_DPS):
        low = limit_value(lambda t: origin(t, params), -1)
        high = limit_value(lambda t: origin(t, params), 1)
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return Shape(peak, at, None)
    return Shape(peak, at, high - low)


def gallery_frame(models: Sequence[CheckedModel]) -> tuple[float, float]:
    """One y-range for every card: the lowest and highest default gradient on [-4, 4]."""
    low, high = 0.0, 0.0
    for c in models:
        g = _default_gradient(c, GALLERY_HALF_WIDTH)
        low, high = min(low, float(np.nanmin(g.ys))), max(high, float(np.nanmax(g.ys)))
    pad = 0.06 * (high - low or 1.0)
    return low - pad, high + pad


def _default_gradient(checked: CheckedModel, width: float, points: int = 301) -> Curve:
    model = checked.model
    params = tuple(mpmath.mpf(p.default) for p in model.spec.params)
    xs = grid(width, checked.breakpoints, points)
    return sample(Evaluator(model, model.grad), xs, params)


def card_png(checked: CheckedModel, ylim: tuple[float, float]) -> bytes:
    """The gallery card: the gradient at the defaults on the axes every card shares."""
    g = _default_gradient(checked, GALLERY_HALF_WIDTH)
    with _figure(figsize=(3.0, 2.0)) as (fig, ax):
        ax.plot(g.xs, g.ys, color="C0", linewidth=1.8)
        ax.fill_between(g.xs, g.ys, 0.0, color="C0", alpha=0.12, linewidth=0)
        _axes_style(ax, xlabel="")
        ax.set_xlim(-GALLERY_HALF_WIDTH, GALLERY_HALF_WIDTH)
        ax.set_ylim(*ylim)
        ax.tick_params(labelsize=7)
        fig.tight_layout(pad=0.3)
        return _png(fig)


def compare_png(
    models: Sequence[CheckedModel], scale: Callable[[CheckedModel], float | None], title: str
) -> bytes:
    """Every gradient at its defaults times ``scale(model)`` in one axes; None: not drawn."""
    styles = ["-", "--", "-.", ":"]
    with _figure(figsize=(9, 4.2)) as (fig, ax):
        for i, c in enumerate(models):
            factor = scale(c)
            if factor is None:
                continue
            g = _default_gradient(c, GALLERY_HALF_WIDTH, 401)
            ax.plot(
                g.xs,
                g.ys * factor,
                label=c.model.spec.name,
                color=f"C{i % 10}",
                linestyle=styles[(i // 10) % len(styles)],
                linewidth=1.5,
            )
        _axes_style(ax)
        ax.set_xlim(-GALLERY_HALF_WIDTH, GALLERY_HALF_WIDTH)
        ax.set_title(title)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        return _png(fig)


def intro_model(models: Sequence[CheckedModel]) -> CheckedModel:
    """The surrogate of the home page's picture: a preferred one if present, else the first."""
    by_name = {c.model.spec.name: c for c in models}
    return next((by_name[n] for n in INTRO_SPECS if n in by_name), models[0])


def intro_png(checked: CheckedModel) -> bytes:
    """The problem in one picture: H(x) has derivative 0 almost everywhere (a delta at 0); the
    surrogate keeps the step forward and uses a smooth origin's derivative backward."""
    model, spec = checked.model, checked.model.spec
    params = tuple(mpmath.mpf(p.default) for p in spec.params)
    xs = grid(3.0, [0.0, *checked.breakpoints])
    o = sample(Evaluator(model, model.origin), xs, params)
    g = sample(Evaluator(model, model.grad), xs, params)
    step = np.where(xs >= 0, 1.0, 0.0)
    with _figure(nrows=1, ncols=2, figsize=(8, 3.0)) as (fig, (ax1, ax2)):
        ax1.plot(xs, step, color="k", linewidth=2, label="spike = H(x)")
        ax1.plot(o.xs, o.ys, color="C1", linestyle="--", label=f"origin(x), {spec.name}")
        ax1.set_title("forward: the step H(x)")
        top = 1.5 * max(1.0, float(np.nanmax(g.ys)))
        ax2.plot(xs, np.zeros_like(xs), color="k", linewidth=2, label="dH/dx = 0 for x ≠ 0")
        ax2.annotate(
            "", xy=(0, 0.97 * top), xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": "k"}
        )
        ax2.text(-2.85, 0.8 * top, "dH/dx = δ(x): zero\nexcept at x = 0", fontsize=8)
        ax2.plot(g.xs, g.ys, color="C1", linewidth=2, label=f"surrogate grad(x), {spec.name}")
        ax2.set_title("backward: grad(x) instead of dH/dx")
        for ax in (ax1, ax2):
            _axes_style(ax)
            ax.set_xlim(-3, 3)
        ax1.legend(fontsize=8, loc="upper left")
        ax2.legend(fontsize=8, loc="center right")
        ax2.set_ylim(-0.05, top)
        fig.tight_layout()
        return _png(fig)

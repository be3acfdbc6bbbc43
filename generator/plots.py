"""Docs plots: origin and gradient for a few parameter values, as byte-deterministic PNG.

Values come from the 40-digit evaluator (not from any backend), and the PNG carries no
software/date metadata, so the bytes depend only on the spec and the pinned matplotlib.
"""

from __future__ import annotations

import io
from typing import Any

import mpmath
import numpy as np

from .checks import CheckedModel
from .numeric import Evaluator, inside

POINTS = 301


def variants(checked: CheckedModel) -> list[tuple[str, tuple[mpmath.mpf, ...]]]:
    """The defaults, and the first parameter halved and doubled (or -+1 for integers)."""
    params = checked.model.spec.params
    defaults = tuple(mpmath.mpf(p.default) for p in params)
    if not params:
        return [("", defaults)]
    first = params[0]
    scales = (
        [first.default - 1, first.default, first.default + 1]
        if first.domain == "integer"
        else [first.default / 2, first.default, first.default * 2]
    )
    scales = [v for v in scales if inside(first, mpmath.mpf(v))]  # within its declared bounds
    return [(f"{first.name} = {v:g}", (mpmath.mpf(v), *defaults[1:])) for v in scales]


def png(checked: CheckedModel) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = checked.model
    width = max([abs(b) for b in checked.breakpoints] + [3.0])
    xs = np.linspace(-width * 1.2 if width > 3 else -3, width * 1.2 if width > 3 else 3, POINTS)
    grad = Evaluator(model, model.grad)
    origin = Evaluator(model, model.origin) if model.origin is not None else None
    with plt.style.context("default"):
        if origin is not None:
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
            axes: tuple[Any, ...] = (ax1, ax2)
        else:  # a gradient-only family: no origin to draw
            fig, ax2 = plt.subplots(1, 1, figsize=(4.5, 3), dpi=80)
            axes = (ax2,)
        for label, params in variants(checked):
            with mpmath.workdps(30):
                gs = [float(grad(mpmath.mpf(float(x)), params) or 0.0) for x in xs]
                if origin is not None:
                    ys = [float(origin(mpmath.mpf(float(x)), params) or np.nan) for x in xs]
                    ax1.plot(xs, ys, label=label or None)
            ax2.plot(xs, gs, label=label or None)
        if origin is not None:
            ax1.set_title("origin(x)")
            ax2.set_title("grad(x) = d origin / dx")
        else:
            ax2.set_title("grad(x)")
        for ax in axes:
            ax.set_xlabel("x = v - v_th")
            ax.grid(True, alpha=0.3)
        if checked.model.spec.params:
            ax2.legend(fontsize=8)
        fig.suptitle(checked.model.spec.title)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        plt.close(fig)
    return buffer.getvalue()

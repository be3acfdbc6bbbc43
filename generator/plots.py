"""Docs plots: origin and gradient for a few parameter values, as byte-deterministic PNG.

Values come from the 40-digit evaluator (not from any backend), and the PNG carries no
software/date metadata, so the bytes depend only on the spec and the pinned matplotlib.
"""

from __future__ import annotations

import io

import mpmath
import numpy as np

from .checks import CheckedModel
from .numeric import Evaluator

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
    return [(f"{first.name} = {v:g}", (mpmath.mpf(v), *defaults[1:])) for v in scales]


def png(checked: CheckedModel) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = checked.model
    width = max([abs(b) for b in checked.breakpoints] + [3.0])
    xs = np.linspace(-width * 1.2 if width > 3 else -3, width * 1.2 if width > 3 else 3, POINTS)
    origin, grad = Evaluator(model, model.origin), Evaluator(model, model.grad)
    with plt.style.context("default"):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
        for label, params in variants(checked):
            with mpmath.workdps(30):
                ys = [float(origin(mpmath.mpf(float(x)), params) or np.nan) for x in xs]
                gs = [float(grad(mpmath.mpf(float(x)), params) or 0.0) for x in xs]
            ax1.plot(xs, ys, label=label or None)
            ax2.plot(xs, gs, label=label or None)
        ax1.set_title("origin(x)")
        ax2.set_title("grad(x) = d origin / dx")
        for ax in (ax1, ax2):
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

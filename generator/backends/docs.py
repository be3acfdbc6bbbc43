"""The docs backend: a Markdown page and a plot per surrogate, and an index."""

from __future__ import annotations

import math
from collections.abc import Sequence

import sympy
from sympy.printing.latex import LatexPrinter

from .. import plots
from ..checks import CheckedModel
from .base import ALL_SPECS, Backend, Output


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


class DocsBackend(Backend):
    name = "docs"
    comment = "<!-- {} -->"

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        outs = []
        for c in models:
            spec = c.model.spec
            context = {
                "spec": spec,
                "checked": c,
                "origin": latex(c.model.origin) if c.model.origin is not None else "",
                "grad": latex(c.model.grad),
                "emitted": latex(c.emitted_grad),
                "backward": [(b, latex(b.expr)) for b in c.backward],
                "call_args": ", ".join(f"{p.name}={p.default!r}" for p in spec.params),
                "limits": tuple(_level(v) for v in c.origin_limits or (None, None)),
                "conversions": c.conversions,
                "positional": "".join(f", {p.default!r}" for p in spec.params),
            }
            outs.append(
                Output(f"docs/{spec.name}.md", spec.path, "docs/SURROGATE.md.jinja", context)
            )
            outs.append(Output(f"docs/img/{spec.name}.png", spec.path, data=plots.png(c)))
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
        return outs

"""Docstring text shared by the Python backends: specific to each surrogate, never generic.

Written in the style of ``jax.nn``: a one-line summary, the formula, ``Args`` with shapes, dtypes
and defaults, ``Returns``, and the source of the formula. Each backend passes what differs (the
dtypes it serves, how parameters broadcast).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import sympy

from ..checks import CheckedModel
from ..spec import Param

X_DOC = "membrane potential minus threshold, ``x = v - v_threshold``"
GRADIENT_ONLY = (
    "A gradient-only family: it has no closed-form origin, so there is no ``origin`` function"
    " and no smooth (``spiking=False``) forward; the forward pass is always the step."
)


@dataclass(frozen=True)
class Formulas:
    """Plain-text formulas of one surrogate, as a user reads them in ``help()``."""

    origin: str  # "" for a gradient-only family
    grad: str
    emitted: str  # the equal form the kernels evaluate, or "" when it is the derivative as shown
    source: str  # where the formula comes from: the spec's first reference, else its title


def _formula(expr: sympy.Expr) -> str:
    """Plain text, wrapped at + and - so that it fits a docstring line after ``origin(x) = ``."""
    text = sympy.sstr(expr)
    return textwrap.fill(
        text, width=72, subsequent_indent=" " * 8, break_long_words=False, break_on_hyphens=False
    )


def formulas(checked: CheckedModel) -> Formulas:
    model = checked.model
    grad = _formula(model.grad)
    emitted = _formula(checked.emitted_grad)
    spec = model.spec
    source = spec.references[0] if spec.references else f"{spec.title} ({spec.summary})"
    return Formulas(
        origin=_formula(model.origin) if model.origin is not None else "",
        grad=grad,
        emitted="" if emitted == grad else emitted,
        source=source,
    )


INVALID_NAN = "A value outside this domain gives NaN."
INVALID_HOST = (
    "A value outside this domain raises ValueError when it is a Python number or a NumPy array,"
    " and gives NaN when it is a JAX array (traced values cannot be inspected)."
)


def param_doc(p: Param, how: str, invalid: str = INVALID_HOST) -> str:
    """``alpha: <doc> Default 4.0; positive. <how>`` without the name; ``invalid`` says what an
    out-of-domain value does (for integer and bounded parameters)."""
    doc = p.doc.rstrip()
    doc = doc if doc.endswith(".") else doc + "."
    domain = {"positive": "> 0", "nonnegative": ">= 0", "real": "real", "integer": "an integer"}
    rule = p.describe_bounds() if p.bounded else domain[p.domain]
    if p.bounded:
        how = f"{how} {invalid}"
    return f"{doc} Default ``{p.default!r}`` ({rule}). {how}"

"""Stage 3: SurrogateModel -> CheckedModel. Everything that can be wrong with a spec fails here.

The stage has three parts, one module each: ``numeric`` (40-digit evaluation at deterministic
points, named tolerances), ``verify`` (the spec's claims) and ``forms`` (the emitted forms).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from . import forms
from .numeric import at_dps, numeric_breakpoints, param_sets
from .symbolic import SurrogateModel
from .verify import BackwardVerdict, CheckError, check_backward, check_origin, check_properties

__all__ = ["BackwardVerdict", "CheckError", "CheckedModel", "run_checks"]


@dataclass(frozen=True)
class CheckedModel:
    """A verified model and the forms every backend prints."""

    model: SurrogateModel
    emitted_grad: sympy.Expr  # the form of d(origin)/dx the backends print
    emitted_form: str  # which candidate it is ("raw derivative", "even-folded", "grad_impl", ...)
    emitted_origin: sympy.Expr  # the origin as printed (the spec's origin, or its origin_impl)
    backward: tuple[BackwardVerdict, ...]
    properties: tuple[str, ...]
    breakpoints: tuple[float, ...]  # at the default parameters
    # Whether every Piecewise branch may be evaluated everywhere (a branch-free select) without an
    # invalid-operation or divide-by-zero flag.
    grad_branch_free: bool = False
    origin_branch_free: bool = False
    # Every candidate form of the gradient with its floating-point score: why the emitted one won.
    grad_candidates: tuple[forms.Candidate, ...] = ()


@at_dps
def run_checks(model: SurrogateModel) -> CheckedModel:
    """All checks in the order a spec author fixes them; raises CheckError on the first failure."""
    check_origin(model)
    backward = check_backward(model)
    properties = check_properties(model)
    form, emitted, grad_score, tried = forms.choose_scored(
        model, model.grad, forms.grad_candidates(model), "grad"
    )
    _, emitted_origin, origin_score = forms.choose(
        model, model.origin, forms.origin_candidates(model), "origin"
    )
    bps = tuple(float(b) for b in numeric_breakpoints(model, param_sets(model)[0]))
    return CheckedModel(
        model=model,
        emitted_grad=emitted,
        emitted_form=form,
        emitted_origin=emitted_origin,
        grad_branch_free=grad_score.branch_free,
        origin_branch_free=origin_score.branch_free,
        backward=backward,
        properties=properties,
        breakpoints=bps,
        grad_candidates=tried,
    )

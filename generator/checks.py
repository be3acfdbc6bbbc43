"""Stage 3: SurrogateModel -> CheckedModel. Everything that can be wrong with a spec fails here.

The stage has three parts, one module each: ``numeric`` (40-digit evaluation at deterministic
points, named tolerances), ``verify`` (the spec's claims) and ``forms`` (the emitted forms).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from . import forms
from .numeric import at_dps, numeric_breakpoints, param_sets
from .symbolic import SurrogateModel, pointwise_diff
from .verify import BackwardVerdict, CheckError, check_backward, check_origin, check_properties

__all__ = [
    "MAX_ORDER",
    "PARAM_ORDERS",
    "BackwardVerdict",
    "CheckError",
    "CheckedModel",
    "run_checks",
]

# d^n origin / dx^n is emitted for n <= MAX_ORDER, and d/d(parameter) of each for n < PARAM_ORDERS:
# a backend can then differentiate to order MAX_ORDER in x, and the origin and the gradient once
# in the parameters, without differentiating emitted code.
MAX_ORDER = 5
PARAM_ORDERS = 2


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
    # derivatives[n]: the emitted form of d^n origin / dx^n, n = 0..MAX_ORDER (0: the origin,
    # 1: the gradient); each finite wherever its true value is.
    derivatives: tuple[sympy.Expr, ...] = ()
    # partials[n][i]: the emitted form of d/d(param i) of d^n origin / dx^n, n < PARAM_ORDERS;
    # None for an integer parameter (no derivative).
    partials: tuple[tuple[sympy.Expr | None, ...], ...] = ()
    # Where a higher or parameter derivative has no form finite everywhere (shown in the docs).
    caveats: tuple[str, ...] = ()
    # The origin and the gradient for backends whose arithmetic flushes subnormal results to 0
    # (XLA): exponentials scaled so that no normal result is lost to a flushed intermediate.
    flush_safe_origin: sympy.Expr | None = None
    flush_safe_grad: sympy.Expr | None = None


def _chain(
    model: SurrogateModel, origin: sympy.Expr, grad: sympy.Expr
) -> tuple[tuple[sympy.Expr, ...], tuple[tuple[sympy.Expr | None, ...], ...], tuple[str, ...]]:
    """Emitted forms of the higher derivatives in x and of the parameter derivatives, and the
    caveats where no form is finite everywhere."""
    caveats: list[str] = []

    def finite(exact: sympy.Expr, label: str) -> sympy.Expr:
        expr, caveat = forms.choose_finite(model, exact, label)
        if caveat:
            caveats.append(caveat)
        return expr

    exact = [model.origin, model.grad]
    for _ in range(2, MAX_ORDER + 1):
        exact.append(pointwise_diff(exact[-1], model.x))
    emitted = [origin, grad] + [
        finite(exact[n], f"d^{n} origin/dx^{n}") for n in range(2, MAX_ORDER + 1)
    ]
    what = ("the origin", "the gradient")
    partials = tuple(
        tuple(
            None
            if p.domain == "integer"
            else finite(pointwise_diff(exact[n], s), f"d/d{p.name} of {what[n]}")
            for p, s in zip(model.spec.params, model.params, strict=True)
        )
        for n in range(PARAM_ORDERS)
    )
    return tuple(emitted), partials, tuple(dict.fromkeys(caveats))


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
    derivatives, partials, caveats = _chain(model, emitted_origin, emitted)
    return CheckedModel(
        flush_safe_origin=forms.flush_safe(model, emitted_origin, model.origin),
        flush_safe_grad=forms.flush_safe(model, emitted, model.grad),
        derivatives=derivatives,
        partials=partials,
        caveats=caveats,
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

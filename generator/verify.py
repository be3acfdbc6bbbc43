"""Verification of a spec's claims: a finite, continuous origin; every published backward formula
against d(origin)/dx; the declared properties. Each failure raises ``CheckError``."""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy

from .numeric import (
    CONTINUITY_STEP,
    CONTINUITY_TOL,
    DPS,
    EQUAL_RTOL,
    FAR,
    NORMALIZED_TOL,
    Evaluator,
    at_dps,
    differ,
    fmt,
    numeric_breakpoints,
    param_sets,
    sample_count,
    sample_points,
    where,
    worst_difference,
)
from .symbolic import SurrogateModel

# A symbolic proof is tried only below this size: ``simplify`` on larger trees takes seconds.
SYMBOLIC_MAX_OPS = 40
# Far points added to the property checks (beyond the sample grid).
PROPERTY_FAR_POINTS = (FAR, -FAR, mpmath.mpf("1e6"), -mpmath.mpf("1e6"))


class CheckError(ValueError):
    """A well-formed spec that is mathematically wrong: ``<path>: <field>: <what, where>``."""


@dataclass(frozen=True)
class BackwardVerdict:
    """How one published backward formula compares with d(origin)/dx."""

    source: str
    expr: sympy.Expr
    expect: str
    note: str
    matches: bool
    how: str  # human-readable evidence, shown in the docs


def symbolically_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Cheap symbolic proof; bounded so that generation stays fast (no simplify on Piecewise)."""
    diff = a - b
    if diff == 0:
        return True
    if diff.has(sympy.Piecewise) or sympy.count_ops(diff) > SYMBOLIC_MAX_OPS:
        return False
    return bool(sympy.simplify(diff) == 0)


@at_dps
def check_backward(model: SurrogateModel) -> tuple[BackwardVerdict, ...]:
    verdicts = []
    for i, (quoted, entry) in enumerate(zip(model.backward, model.spec.backward, strict=True)):
        field = f"{model.spec.path}: backward[{i}]"
        found = worst_difference(model, quoted, model.grad)
        if found is None:
            proof = "symbolically" if symbolically_equal(quoted, model.grad) else ""
            how = proof or f"at {sample_count(model)} sample points ({DPS} digits)"
            if entry.expect == "mismatch":
                raise CheckError(
                    f"{field}: marked 'expect: mismatch' but equals d(origin)/dx ({how});"
                    " remove 'expect'"
                )
            verdicts.append(
                BackwardVerdict(
                    entry.source, quoted, entry.expect, entry.note, True, f"equal {how}"
                )
            )
            continue
        (x, params), got, want = found
        how = f"differs at {where(model, x, params)}: quoted {fmt(got)}, d(origin)/dx {fmt(want)}"
        if entry.expect != "mismatch":
            raise CheckError(f"{field}: {entry.source}: {how}")
        verdicts.append(BackwardVerdict(entry.source, quoted, entry.expect, entry.note, False, how))
    return tuple(verdicts)


@at_dps
def check_origin(model: SurrogateModel) -> None:
    """Origin and gradient finite at every sample; origin continuous at every breakpoint."""
    origin, grad = Evaluator(model, model.origin), Evaluator(model, model.grad)
    path = model.spec.path
    for params in param_sets(model):
        for x in sample_points(model, params) + numeric_breakpoints(model, params):
            if origin(x, params) is None:
                raise CheckError(f"{path}: origin: not finite at {where(model, x, params)}")
            if grad(x, params) is None:
                raise CheckError(
                    f"{path}: origin: d(origin)/dx is not finite at {where(model, x, params)}"
                )
        for b in numeric_breakpoints(model, params):
            eps = CONTINUITY_STEP * max(1, abs(b))
            left, right = origin(b - eps, params), origin(b + eps, params)
            if left is None or right is None or abs(left - right) > CONTINUITY_TOL:
                raise CheckError(
                    f"{path}: origin: not continuous at {where(model, b, params)}:"
                    f" {fmt(left)} on the left, {fmt(right)} on the right"
                )


@at_dps
def check_properties(model: SurrogateModel) -> tuple[str, ...]:
    """Each declared property, at the default parameters (properties are claims about them)."""
    path = model.spec.path
    origin, grad = Evaluator(model, model.origin), Evaluator(model, model.grad)
    params = param_sets(model)[0]
    xs = sample_points(model, params) + list(PROPERTY_FAR_POINTS)
    for prop in model.spec.properties:
        if prop == "normalized":
            low, high = origin(-FAR, params), origin(FAR, params)
            if (
                low is None
                or high is None
                or abs(low) > NORMALIZED_TOL
                or abs(high - 1) > NORMALIZED_TOL
            ):
                raise CheckError(
                    f"{path}: properties: normalized does not hold: origin(-inf) = {fmt(low)},"
                    f" origin(+inf) = {fmt(high)} (evaluated at x = -+1e30), expected 0 and 1"
                )
        for x in xs:
            g = grad(x, params)
            if prop == "monotone" and g is not None and g < -EQUAL_RTOL:
                raise CheckError(
                    f"{path}: properties: monotone does not hold: d(origin)/dx = {fmt(g)} < 0"
                    f" at {where(model, x, params)}"
                )
            if prop == "even_grad" and differ(g, grad(-x, params)):
                raise CheckError(
                    f"{path}: properties: even_grad does not hold: d(origin)/dx = {fmt(g)} at"
                    f" {where(model, x, params)} but {fmt(grad(-x, params))} at -x"
                )
    return model.spec.properties

"""Verification of a spec's claims: a finite, continuous origin; every published backward formula
against d(origin)/dx; the declared properties. Each failure raises ``CheckError``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath
import sympy

from .numeric import (
    BESIDE_BREAKPOINT,
    CONTINUITY_STEP,
    CONTINUITY_TOL,
    DPS,
    EQUAL_RTOL,
    FAR,
    NEAR_BREAKPOINT,
    NORMALIZED_TOL,
    PERTURB_FACTOR,
    PERTURB_FROM_ZERO,
    Evaluator,
    at_dps,
    differ,
    fmt,
    inside,
    limit_value,
    numeric_breakpoints,
    param_sets,
    sample_count,
    sample_points,
    where,
    worst_difference,
)
from .symbolic import PresetModel, SurrogateModel

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
    """Cheap symbolic proof; bounded so that generation stays fast (no simplify on Piecewise, or
    on a Sum, whose simplification tries closed forms through ``solve``)."""
    diff = a - b
    if diff == 0:
        return True
    if diff.has(sympy.Piecewise, sympy.Sum) or sympy.count_ops(diff) > SYMBOLIC_MAX_OPS:
        return False
    return bool(sympy.simplify(diff) == 0)


@at_dps
def check_backward(model: SurrogateModel) -> tuple[BackwardVerdict, ...]:
    verdicts = []
    label = "d(origin)/dx" if model.origin is not None else "grad"
    for i, (quoted, entry) in enumerate(zip(model.backward, model.spec.backward, strict=True)):
        field = f"{model.spec.path}: backward[{i}]"
        found = worst_difference(model, quoted, model.grad)
        if found is None:
            proof = "symbolically" if symbolically_equal(quoted, model.grad) else ""
            how = proof or f"at {sample_count(model)} sample points ({DPS} digits)"
            if entry.expect == "mismatch":
                raise CheckError(
                    f"{field}: marked 'expect: mismatch' but equals {label} ({how});"
                    " remove 'expect'"
                )
            verdicts.append(
                BackwardVerdict(
                    entry.source, quoted, entry.expect, entry.note, True, f"equal {how}"
                )
            )
            continue
        (x, params), got, want = found
        how = f"differs at {where(model, x, params)}: quoted {fmt(got)}, {label} {fmt(want)}"
        if entry.expect != "mismatch":
            raise CheckError(f"{field}: {entry.source}: {how}")
        verdicts.append(BackwardVerdict(entry.source, quoted, entry.expect, entry.note, False, how))
    return tuple(verdicts)


@at_dps
def check_origin(model: SurrogateModel) -> None:
    """Origin and gradient finite at every sample; origin continuous at every breakpoint.

    A gradient-only family: its gradient finite at every sample."""
    path = model.spec.path
    grad = Evaluator(model, model.grad)
    if model.origin is None:
        for params in param_sets(model):
            for x in sample_points(model, params) + numeric_breakpoints(model, params):
                if grad(x, params) is None:
                    raise CheckError(f"{path}: grad: not finite at {where(model, x, params)}")
        return
    origin = Evaluator(model, model.origin)
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
    grad = Evaluator(model, model.grad)
    params = param_sets(model)[0]
    xs = sample_points(model, params) + list(PROPERTY_FAR_POINTS)
    for prop in model.spec.properties:
        if prop == "normalized":
            assert model.origin is not None, "the loader refuses normalized without an origin"
            origin = Evaluator(model, model.origin)
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


# --- library presets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PresetFacts:
    """A preset, verified, with the numbers of its conversion row (at the library's defaults)."""

    model: PresetModel
    family_values: tuple[float, ...]  # the family parameters at the library's defaults
    grad_at_0: float
    peak: float  # the largest gradient on the sample points
    integral: float | None  # origin(+inf) - origin(-inf); None where it diverges or is undefined
    forward_at_0: float  # what the library's forward gives at x = 0
    how: str  # the evidence, for the docs


# graded: v*[x >= 0]/scale is threshold/scale at x = 0, no one number (NaN; the docs say so)
FORWARD_AT_0 = {"ge": 1.0, "gt": 0.0, "half": 0.5, "graded": float("nan")}


def _preset_param_sets(pm: PresetModel) -> list[tuple[mpmath.mpf, ...]]:
    """The library's defaults and a perturbed set (x1.37, 0 -> 0.37, integers +1)."""
    defaults = tuple(mpmath.mpf(v) for v in pm.defaults)
    perturbed = tuple(
        mpmath.mpf(v) + 1
        if isinstance(v, int)
        else (mpmath.mpf(v) * PERTURB_FACTOR or PERTURB_FROM_ZERO)
        for v in pm.defaults
    )
    return [defaults, perturbed] if defaults else [defaults]


def _family_values(
    model: SurrogateModel, pm: PresetModel, ps: Sequence[mpmath.mpf]
) -> list[mpmath.mpf | None]:
    return [Evaluator(model, e, args=pm.params)(mpmath.mpf(0), ps) for e in pm.family]


PRESET_STRIDE = 3  # a preset's identity is checked at every third sample point (and the kinks)


def _preset_points(
    model: SurrogateModel, pm: PresetModel, ps: Sequence[mpmath.mpf], family: Sequence[mpmath.mpf]
) -> list[mpmath.mpf]:
    """Every PRESET_STRIDE-th of the family's sample points, and all of those beside a
    breakpoint, mapped back through x_map for this preset's parameters. Two closed forms that
    differ (a wrong scale, a mapped parameter, a shifted kink) differ almost everywhere: a third
    of the grid finds it, at a third of the cost of a ``make gen`` step that runs per preset."""
    u0 = Evaluator(model, pm.x_map, args=pm.params)(mpmath.mpf(0), ps)
    u1 = Evaluator(model, pm.x_map, args=pm.params)(mpmath.mpf(1), ps)
    assert u0 is not None and u1 is not None
    points = sample_points(model, family)
    bps = numeric_breakpoints(model, family)
    width = max([abs(b) for b in bps] + [mpmath.mpf(1)])
    near = 2 * max(NEAR_BREAKPOINT * width, BESIDE_BREAKPOINT * width)
    kept = [
        u
        for i, u in enumerate(points)
        if i % PRESET_STRIDE == 0 or any(abs(u - b) <= near for b in bps)
    ]
    return [(u - u0) / (u1 - u0) for u in kept]


@at_dps
def check_presets(model: SurrogateModel) -> tuple[PresetFacts, ...]:
    """Each preset's quoted library gradient (and origin) equals the family's, mapped."""
    return tuple(_check_preset(model, i, pm) for i, pm in enumerate(model.presets))


def _check_preset(model: SurrogateModel, index: int, pm: PresetModel) -> PresetFacts:
    field = f"{model.spec.path}: presets[{index}]"
    names = [name for name, _ in pm.preset.params]
    count = 0
    for ps in _preset_param_sets(pm):
        shown = ", ".join(f"{n} = {mpmath.nstr(v, 6)}" for n, v in zip(names, ps, strict=True))
        family = _family_values(model, pm, ps)
        if any(v is None for v in family) or not all(
            inside(p, v) for p, v in zip(model.spec.params, family, strict=True)
        ):
            values = ", ".join(
                f"{p.name} = {fmt(v)}" for p, v in zip(model.spec.params, family, strict=True)
            )
            raise CheckError(
                f"{field}.family: {pm.preset.label} ({shown}) maps to {values}, outside the"
                " family's domain"
            )
        xs = _preset_points(model, pm, ps, family)
        pairs = [("grad", pm.quoted_grad, pm.grad)]
        if pm.quoted_origin is not None and pm.origin is not None:
            pairs.append(("origin", pm.quoted_origin, pm.origin))
        for what, quoted, mapped in pairs:
            q = Evaluator(model, quoted, args=pm.params)
            m = Evaluator(model, mapped, args=pm.params)
            rows = [(x, q(x, ps), m(x, ps)) for x in xs]
            # Digits are counted against the function's size: a form that cancels (1 - tanh**2
            # far out) is 0 at 40 digits where the quoted exp form is 1e-27.
            scale = max((abs(b) for _, _, b in rows if b is not None), default=mpmath.mpf(1))
            for x, a, b in rows:
                if _differ_at_scale(a, b, scale):
                    raise CheckError(
                        f"{field}.{what}: {pm.preset.label} differs from the family's at x ="
                        f" {mpmath.nstr(x, 8)}, {shown}: quoted {fmt(a)}, scale * family"
                        f" {fmt(b)}"
                    )
            count += len(xs)
    return _facts(model, pm, count)


def _differ_at_scale(a: mpmath.mpf | None, b: mpmath.mpf | None, scale: mpmath.mpf) -> bool:
    """Exactly one undefined, or apart by more than EQUAL_RTOL of the larger of them and scale."""
    if a is None or b is None:
        return (a is None) != (b is None)
    return bool(abs(a - b) > EQUAL_RTOL * max(abs(a), abs(b), scale))


def _facts(model: SurrogateModel, pm: PresetModel, count: int) -> PresetFacts:
    ps = _preset_param_sets(pm)[0]
    family = _family_values(model, pm, ps)
    grad = Evaluator(model, pm.grad, args=pm.params)
    at0 = grad(mpmath.mpf(0), ps)
    values = [g for x in _preset_points(model, pm, ps, family) if (g := grad(x, ps)) is not None]
    integral = None
    if pm.origin is not None:
        origin = Evaluator(model, pm.origin, args=pm.params)
        low = limit_value(lambda t: origin(t, ps), -1)
        high = limit_value(lambda t: origin(t, ps), 1)
        if low is not None and high is not None and all(map(math.isfinite, (low, high))):
            integral = high - low
    return PresetFacts(
        model=pm,
        family_values=tuple(float(v) for v in family if v is not None),
        grad_at_0=float(at0) if at0 is not None else math.nan,
        peak=float(max(values)),
        integral=integral,
        forward_at_0=FORWARD_AT_0[pm.preset.forward],
        how=f"equal at {count} sample points ({DPS} digits)",
    )

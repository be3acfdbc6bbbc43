"""Stage 3: SurrogateModel -> CheckedModel. Everything that can be wrong with a spec fails here.

The stage has three parts, one module each: ``numeric`` (40-digit evaluation at deterministic
points, named tolerances), ``verify`` (the spec's claims) and ``forms`` (the emitted forms).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import sympy

from . import forms
from .numeric import Evaluator, at_dps, limit_value, numeric_breakpoints, param_sets
from .spec import Spec, SpecError
from .symbolic import SurrogateModel, build_model, pointwise_diff
from .verify import (
    BackwardVerdict,
    CheckError,
    PresetFacts,
    check_backward,
    check_origin,
    check_presets,
    check_properties,
)

__all__ = [
    "MAX_ORDER",
    "PARAM_ORDERS",
    "BackwardVerdict",
    "CheckError",
    "CheckedModel",
    "Conversion",
    "PresetFacts",
    "check_all",
    "check_spec",
    "run_checks",
]

# d^n origin / dx^n is emitted for n <= MAX_ORDER, and d/d(parameter) of each for n < PARAM_ORDERS:
# a backend can then differentiate to order MAX_ORDER in x, and the origin and the gradient once
# in the parameters, without differentiating emitted code.
MAX_ORDER = 5
PARAM_ORDERS = 2


@dataclass(frozen=True)
class Conversion:
    """One library's parametrisation of a family, as the docs' conversion table shows it."""

    library: str
    also: tuple[str, ...]  # libraries exporting the same API
    names: tuple[str, ...]  # the library's class and/or function name
    params: str  # "alpha=4.0, beta=1.0": the library's keywords and defaults
    family: str  # "alpha = 2*k": each family parameter in the library's terms
    x: str  # the family's input in terms of x ("x" unless stretched or shifted)
    scale: str  # the factor on the family's gradient ("1" when none)
    grad_at_0: float
    peak: float
    integral: float | None  # None: the integral of the gradient diverges
    forward_at_0: float
    forward: str  # "ge", "gt", "half" or "graded"
    note: str


def conversion(facts: PresetFacts, family: Sequence[str]) -> Conversion:
    pm, preset = facts.model, facts.model.preset
    return Conversion(
        library=preset.library,
        also=preset.also,
        names=(f"{preset.class_name}({preset.when}=True)",)
        if preset.when
        else tuple(n for n in (preset.class_name, preset.function) if n),
        params=", ".join(f"{k}={v!r}" for k, v in preset.params),
        family=", ".join(
            f"{name} = {sympy.sstr(e)}" for name, e in zip(family, pm.family, strict=True)
        ),
        x=sympy.sstr(pm.x_map),
        scale=sympy.sstr(pm.scale),
        grad_at_0=facts.grad_at_0,
        peak=facts.peak,
        integral=facts.integral,
        forward_at_0=facts.forward_at_0,
        forward=preset.forward,
        note=preset.note,
    )


@dataclass(frozen=True)
class CheckedModel:
    """A verified model and the forms every backend prints."""

    model: SurrogateModel
    emitted_grad: sympy.Expr  # the form of d(origin)/dx the backends print
    emitted_form: str  # which candidate it is ("raw derivative", "even-folded", "grad_impl", ...)
    # The origin as printed (the spec's origin, or its origin_impl); None: a gradient-only family.
    emitted_origin: sympy.Expr | None
    backward: tuple[BackwardVerdict, ...]
    properties: tuple[str, ...]
    breakpoints: tuple[float, ...]  # at the default parameters
    # Whether every Piecewise branch may be evaluated everywhere (a branch-free select) without an
    # invalid-operation or divide-by-zero flag.
    grad_branch_free: bool = False
    origin_branch_free: bool = False
    presets: tuple[PresetFacts, ...] = ()  # each library preset, verified, with its conversion row
    # origin(-inf) and origin(+inf) at the defaults (+-inf where unbounded); None: no origin.
    origin_limits: tuple[float | None, float | None] | None = None
    # Every candidate form of the gradient with its floating-point score: why the emitted one won.
    grad_candidates: tuple[forms.Candidate, ...] = ()
    # derivatives[n]: the emitted form of d^n origin / dx^n, n = 0..MAX_ORDER (0: the origin,
    # None for a gradient-only family; 1: the gradient); each finite wherever its true value is.
    derivatives: tuple[sympy.Expr | None, ...] = ()
    # partials[n][i]: the emitted form of d/d(param i) of d^n origin / dx^n, n < PARAM_ORDERS;
    # None for an integer parameter (no derivative) and for the origin of a gradient-only family.
    partials: tuple[tuple[sympy.Expr | None, ...], ...] = ()
    # Where a higher or parameter derivative has no form finite everywhere (shown in the docs).
    caveats: tuple[str, ...] = ()
    # The origin and the gradient for backends whose arithmetic flushes subnormal results to 0
    # (XLA): exponentials scaled so that no normal result is lost to a flushed intermediate.
    flush_safe_origin: sympy.Expr | None = None
    flush_safe_grad: sympy.Expr | None = None
    # The worst relative errors (float32, float64 within float32's range) of the emitted
    # gradient and origin on the float grid at the defaults and at the perturbed parameters
    # (forms.float_score); None: no origin.
    grad_max_rel: tuple[float, float] = (0.0, 0.0)
    origin_max_rel: tuple[float, float] | None = None

    @property
    def conversions(self) -> tuple[Conversion, ...]:
        """One row per library preset: its parameters in this family's terms, and its numbers."""
        family = [p.name for p in self.model.spec.params]
        return tuple(conversion(f, family) for f in self.presets)

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every library name of this family ("<library>.<class or function name>", ...)."""
        found = []
        for f in self.presets:
            preset = f.model.preset
            for library in (preset.library, *preset.also):
                for name in (preset.class_name, preset.function):
                    if name and f"{library}.{name}" not in found:
                        found.append(f"{library}.{name}")
        return tuple(found)

    @property
    def step_approximation(self) -> bool:
        """The origin rises from one finite level to a higher one: a smooth step."""
        if self.origin_limits is None:
            return False
        low, high = self.origin_limits
        if low is None or high is None:
            return False
        return math.isfinite(low) and math.isfinite(high) and high > low

    @property
    def guard(self) -> sympy.Basic:
        """Where the parameters are valid; printers emit NaN outside (sympy.true: everywhere)."""
        return self.model.guard


def _chain(
    model: SurrogateModel, origin: sympy.Expr | None, grad: sympy.Expr
) -> tuple[
    tuple[sympy.Expr | None, ...], tuple[tuple[sympy.Expr | None, ...], ...], tuple[str, ...]
]:
    """Emitted forms of the higher derivatives in x and of the parameter derivatives, and the
    caveats where no form is finite everywhere. A finite Sum is differentiated as one and
    unrolled (``model.expanded``) before its form is chosen: every printer takes the result."""
    caveats: list[str] = []

    def finite(exact: sympy.Expr, label: str) -> sympy.Expr:
        expr, caveat = forms.choose_finite(model, model.expanded(exact), label)
        if caveat:
            caveats.append(caveat)
        return expr

    higher = [model.grad]
    for _ in range(2, MAX_ORDER + 1):
        higher.append(pointwise_diff(higher[-1], model.x))
    exact: list[sympy.Expr | None] = [model.origin, *higher]
    emitted: list[sympy.Expr | None] = [origin, grad] + [
        finite(higher[n - 1], f"d^{n} origin/dx^{n}") for n in range(2, MAX_ORDER + 1)
    ]
    what = ("the origin", "the gradient")
    partials = tuple(
        tuple(
            None
            if p.domain == "integer" or nth is None
            else finite(pointwise_diff(nth, s), f"d/d{p.name} of {what[n]}")
            for p, s in zip(model.spec.params, model.params, strict=True)
        )
        for n, nth in enumerate(exact[:PARAM_ORDERS])
    )
    return tuple(emitted), partials, tuple(dict.fromkeys(caveats))


def _worst_rel(
    model: SurrogateModel, emitted: sympy.Expr, exact: sympy.Expr, at_defaults: forms.FloatScore
) -> tuple[float, float]:
    """The emitted form's worst float32 and float64 relative errors at the defaults (already
    scored) and at the perturbed parameters: a sum may cancel only away from the defaults."""
    scores = [at_defaults]
    if len(param_sets(model)) > 1:
        scores.append(forms.float_score(model, emitted, exact, 1))
    return max(s.max_rel_f32 for s in scores), max(s.max_rel_f64 for s in scores)


@at_dps
def run_checks(model: SurrogateModel) -> CheckedModel:
    """All checks in the order a spec author fixes them; raises CheckError on the first failure."""
    check_origin(model)
    backward = check_backward(model)
    properties = check_properties(model)
    form, emitted, grad_score, tried = forms.choose_scored(
        model, model.grad, forms.grad_candidates(model), "grad"
    )
    emitted_origin, origin_branch_free, origin_rel = None, False, None
    if model.origin is not None:
        _, emitted_origin, origin_score = forms.choose(
            model, model.origin, forms.origin_candidates(model), "origin"
        )
        origin_branch_free = origin_score.branch_free
        origin_rel = _worst_rel(model, emitted_origin, model.origin, origin_score)
    presets = check_presets(model)
    limits = None
    if model.origin is not None:
        origin, defaults = Evaluator(model, model.origin), param_sets(model)[0]
        limits = (
            limit_value(lambda t: origin(t, defaults), -1),
            limit_value(lambda t: origin(t, defaults), 1),
        )
    bps = tuple(float(b) for b in numeric_breakpoints(model, param_sets(model)[0]))
    derivatives, partials, caveats = _chain(model, emitted_origin, emitted)
    return CheckedModel(
        flush_safe_origin=None
        if emitted_origin is None or model.origin is None
        else forms.flush_safe(model, emitted_origin, model.origin),
        flush_safe_grad=forms.flush_safe(model, emitted, model.grad),
        derivatives=derivatives,
        partials=partials,
        caveats=caveats,
        model=model,
        emitted_grad=emitted,
        emitted_form=form,
        emitted_origin=emitted_origin,
        grad_branch_free=grad_score.branch_free,
        origin_branch_free=origin_branch_free,
        backward=backward,
        properties=properties,
        breakpoints=bps,
        presets=presets,
        origin_limits=limits,
        grad_candidates=tried,
        grad_max_rel=_worst_rel(model, emitted, model.grad, grad_score),
        origin_max_rel=origin_rel,
    )


def check_spec(spec: Spec) -> CheckedModel:
    """Stages 2-3 for one spec; a SymPy failure on odd input is reported as the spec's error."""
    try:
        return run_checks(build_model(spec))
    except (SpecError, CheckError):
        raise
    except (RecursionError, MemoryError):
        raise CheckError(f"{spec.path}: origin: expression too large to analyse") from None
    except Exception as err:
        raise CheckError(
            f"{spec.path}: origin: SymPy could not analyse it ({type(err).__name__}: {err})"
        ) from None


# Specs are checked in this many processes (SURROGEN_JOBS overrides; 1: in this process).
PARALLEL_FROM = 6  # fewer specs than this are checked in this process (starting workers costs ~1 s)


def _jobs(count: int, fork_safe: bool) -> int:
    """Worker processes for ``count`` specs: 1 (this process) for a few specs, where fork is not
    available, or where forking is not safe: this process runs other threads (Python's, or those
    of a numeric library the caller loaded, which ``fork_safe`` says), and a fork would copy them
    in an undefined state."""
    jobs = int(os.environ.get("SURROGEN_JOBS", "0")) or min(2, os.cpu_count() or 1)
    forkable = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if count < PARALLEL_FROM or not forkable or not fork_safe:
        return 1
    return max(1, min(jobs, count))


T = TypeVar("T")
R = TypeVar("R")


def map_specs(fn: Callable[[T], R], items: Sequence[T], fork_safe: bool = False) -> list[R]:
    """``[fn(item) for item in items]``, in forked worker processes when ``fork_safe`` (the
    caller knows that no library with threads of its own is loaded) and there are enough items.
    The first exception, in item order, is raised."""
    jobs = _jobs(len(items), fork_safe)
    if jobs == 1:
        return [fn(item) for item in items]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        return list(pool.map(fn, items))


def check_all(specs: list[Spec], fork_safe: bool = False) -> list[CheckedModel]:
    """Stages 2-3 for every spec, in spec order; the first failing spec (in that order) raises.
    Forked workers as in ``map_specs``."""
    return map_specs(check_spec, specs, fork_safe)

"""Stage 3: SurrogateModel -> CheckedModel. Everything that can be wrong with a spec fails here.

The stage has three parts, one module each: ``numeric`` (40-digit evaluation at deterministic
points, named tolerances), ``verify`` (the spec's claims) and ``forms`` (the emitted forms).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import sympy

from . import forms
from .numeric import Evaluator, at_dps, limit_value, numeric_breakpoints, param_sets
from .spec import Spec, SpecError
from .symbolic import SurrogateModel, build_model
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
    "BackwardVerdict",
    "CheckError",
    "CheckedModel",
    "PresetFacts",
    "check_all",
    "check_spec",
    "run_checks",
]


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


@at_dps
def run_checks(model: SurrogateModel) -> CheckedModel:
    """All checks in the order a spec author fixes them; raises CheckError on the first failure."""
    check_origin(model)
    backward = check_backward(model)
    properties = check_properties(model)
    form, emitted, grad_score = forms.choose(
        model, model.grad, forms.grad_candidates(model), "grad"
    )
    emitted_origin, origin_branch_free = None, False
    if model.origin is not None:
        _, emitted_origin, origin_score = forms.choose(
            model, model.origin, forms.origin_candidates(model), "origin"
        )
        origin_branch_free = origin_score.branch_free
    presets = check_presets(model)
    limits = None
    if model.origin is not None:
        origin, defaults = Evaluator(model, model.origin), param_sets(model)[0]
        limits = (
            limit_value(lambda t: origin(t, defaults), -1),
            limit_value(lambda t: origin(t, defaults), 1),
        )
    bps = tuple(float(b) for b in numeric_breakpoints(model, param_sets(model)[0]))
    return CheckedModel(
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


def _jobs(count: int) -> int:
    """Worker processes for ``count`` specs: 1 (this process) for a few specs, where fork is not
    available, or where this process runs other threads (an array library may), which a fork
    would copy in an undefined state."""
    jobs = int(os.environ.get("SURROGEN_JOBS", "0")) or min(2, os.cpu_count() or 1)
    forkable = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if count < PARALLEL_FROM or not forkable:
        return 1
    return max(1, min(jobs, count))


def check_all(specs: list[Spec]) -> list[CheckedModel]:
    """Stages 2-3 for every spec, in spec order; the first failing spec (in that order) raises."""
    jobs = _jobs(len(specs))
    if jobs == 1:
        return [check_spec(spec) for spec in specs]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        return list(pool.map(check_spec, specs))

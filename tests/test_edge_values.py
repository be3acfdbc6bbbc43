"""NaN, -0.0 and subnormals (both signs) through every entry point of every backend and dtype.

spike: 1 at -0.0 and +0.0 and for positive subnormals, 0 for negative ones and for NaN (decided on
the sign bit: XLA flushes subnormals in comparisons). Every other entry point: NaN in gives NaN
out, and at signed zeros and subnormals the mpmath reference value (the left branch for a
negative subnormal), held to the strict tolerance of ``tests/reference.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.reference import (
    SPEC_NAMES,
    SPECS,
    arithmetic_params,
    as_dtype,
    defaults,
    finfo,
    origin_height,
    other_params,
    strict_reference_at,
)
from tests.test_dtypes_strict import BACKENDS, CASES, _check

NAMES = [pytest.param(n, marks=pytest.mark.xdist_group(f"strict-{n}"), id=n) for n in SPEC_NAMES]


def edge_values(dtype_name: str) -> np.ndarray:
    """NaN, -0.0, +0.0, the smallest subnormal of both signs, a mid subnormal, as float64."""
    f = finfo(dtype_name)
    sub = float(f.smallest_subnormal)
    mid = float(f.tiny) / 2
    return np.array([np.nan, -0.0, 0.0, -sub, sub, -mid, mid, np.nan])


def _run(name, backend, dtype_name, params, xs):
    finite = ~np.isnan(xs)
    ps = arithmetic_params(params, dtype_name)
    ref = strict_reference_at(name, np.where(finite, xs, 0.0), ps)
    for field in ("origin", "grad"):
        getattr(ref, field)[~finite] = np.nan
    ref = type(ref)(
        xs, ref.origin, ref.grad, ref.grad_slope, ref.origin_slope, ref.grad_cond, ref.origin_cond
    )
    x = as_dtype(xs, dtype_name)
    g = as_dtype(np.full(len(xs), 1.5), dtype_name)
    call, _ = BACKENDS[backend]
    got = call(name, x, g, list(params), dtype_name)
    height = origin_height(name, ps)
    failures = _check(name, backend, dtype_name, xs, g, ref, got, f"edge {params}", height, False)
    return failures


def _params(name, which):
    if which == "other" and not SPECS[name].params:
        pytest.skip("no parameters")
    return defaults(name) if which == "defaults" else other_params(name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("which", ["defaults", "other"])
@pytest.mark.parametrize("backend, dtype_name", CASES, ids=[f"{b}-{d}" for b, d in CASES])
def test_signed_zeros_and_subnormals(name, which, backend, dtype_name):
    xs = edge_values(dtype_name)
    failures = _run(name, backend, dtype_name, _params(name, which), xs[~np.isnan(xs)])
    assert not failures, "\n".join(failures.values())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend, dtype_name", CASES, ids=[f"{b}-{d}" for b, d in CASES])
def test_nan_in_gives_nan_out(name, backend, dtype_name):
    """spike(NaN) = 0; origin, grad and every backward of NaN are NaN (never a number)."""
    xs = np.array([np.nan, 1.0, np.nan])
    failures = _run(name, backend, dtype_name, defaults(name), xs)
    assert not failures, "\n".join(failures.values())

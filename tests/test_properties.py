"""Hypothesis over all float32 values: the Numba CPU kernels keep their declared properties.

The grids in test_numerics.py are fixed; this searches the whole float32 line (huge, tiny,
subnormal, signed zero) for a NaN/inf, a negative gradient of a monotone surrogate, or an
asymmetric gradient of an even one.
"""

import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference import SPECS, defaults, reference_at

pytest.importorskip("numba")

FLOATS = st.floats(allow_nan=False, allow_infinity=True, width=32)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(x=FLOATS)
def test_gradient_properties_hold_everywhere(name, x):
    mod = importlib.import_module(f"surrogen.numba_cpu.{name}")
    v = np.array([x, -x], dtype=np.float32)
    with np.errstate(invalid="ignore"):  # a periodic gradient has no value at +-inf: NaN there
        g = mod.grad(v, *defaults(name))
    assert g.dtype == np.float32
    if np.isinf(x):  # where the gradient has no limit (periodic), NaN; elsewhere its limit
        limits = reference_at(name, v.astype(np.float64)).grad
        np.testing.assert_array_equal(np.isnan(g), np.isnan(limits), f"grad({v}) = {g}")
        g = g[~np.isnan(limits)]
    assert np.all(np.isfinite(g)), f"grad({x!r}) = {g}: not finite"
    props = SPECS[name].properties
    if "monotone" in props:
        assert np.all(g >= 0), f"grad({x!r}) = {g} < 0 for a monotone surrogate"
    if "even_grad" in props and len(g) == 2:
        np.testing.assert_array_max_ulp(g[0], g[1], maxulp=4)
    s = mod.spike(v)
    assert s[0] == (1.0 if x >= 0 else 0.0)

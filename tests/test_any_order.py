"""Derivatives of every order: grad of grad of ... (reverse and forward mode, up to the 4th order
of spike and the 5th of the origin) are finite and right wherever the true value is, including
far from the threshold where a formula's unselected ``jnp.where`` branch overflows.

The JAX functions carry their symbolic derivatives (a custom_jvp per order), so no transform
ever differentiates generated code; expected values are from mpmath (tests/derivatives.py).
"""

import importlib

import numpy as np
import pytest

from tests.derivatives import away_from_breakpoints, derivative
from tests.reference import has_origin

jax = pytest.importorskip("jax")
jnp = jax.numpy

POINTS = np.array([-1e4, -30.0, -12.0, -7.5, -1.0, -0.3, 0.2, 0.9, 3.0, 12.0, 30.0, 1e4])


def mod(name):
    return importlib.import_module(f"surrogen.jax.{name}")


def nest(transform, fn, times):
    for _ in range(times):
        fn = transform(fn)
    return fn


def _compare(name, got, order, xs, dtype):
    want = derivative(name, order, xs)
    assert np.all(np.isfinite(got)), f"order {order}: {got}"
    # Rounding of x and of each operation, at the scale of this derivative near the threshold.
    scale = np.max(np.abs(derivative(name, order, np.linspace(-2, 2, 81)))) + 1e-30
    rtol = 1e-3 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=f"order {order}")


@pytest.mark.slow
@pytest.mark.parametrize("order", [2, 4])
def test_reverse_and_forward_mode_to_the_fourth_order(name, order):
    m = mod(name)
    xs = away_from_breakpoints(name, POINTS).astype(np.float32)
    x = jnp.asarray(xs)
    cases = [
        (nest(jax.grad, m.spike, order), order),  # reverse over the custom_vjp
        (nest(jax.jacfwd, m.spike_jvp, order), order),  # forward mode throughout
        (nest(jax.grad, m.grad, order), order + 1),  # order 4: the 5th derivative of the origin
    ]
    if order == 2:  # reverse over forward, and the origin's own chain
        cases += [(nest(jax.jacrev, m.spike_jvp, order), order)]
        cases += [(jax.hessian(m.origin), 2)] if has_origin(name) else [(jax.jacfwd(m.grad), 2)]
    for fn, n in cases:
        _compare(name, np.asarray(jax.vmap(fn)(x)), n, xs.astype(np.float64), np.float32)


@pytest.mark.slow
def test_float64_to_the_fourth_order(name):
    m = mod(name)
    xs = away_from_breakpoints(name, POINTS)
    with jax.enable_x64(True):
        got = jax.vmap(nest(jax.grad, m.spike, 4))(jnp.asarray(xs))
        assert got.dtype == jnp.float64
        _compare(name, np.asarray(got), 4, xs, np.float64)


def test_the_issue_points_of_s2nn():
    """grad(grad(s2nn.grad)) was NaN at x = -1 and x = 12 (float32 and float64)."""
    m = mod("s2nn")
    third = jax.grad(jax.grad(m.grad))
    for x, quoted in ((-1.0, 1.01062), (12.0, 9.10e-4)):
        want = float(derivative("s2nn", 3, [x])[0])
        np.testing.assert_allclose(want, quoted, rtol=5e-3)  # the issue quotes 3-6 digits
        np.testing.assert_allclose(float(third(jnp.float32(x))), want, rtol=2e-5)
        with jax.enable_x64(True):
            np.testing.assert_allclose(float(third(jnp.float64(x))), want, rtol=1e-12)


@pytest.mark.slow
def test_derivatives_in_the_parameters_of_the_origin(name):
    """d origin / d parameter (and its x-derivatives) come from the same custom_jvp."""
    from tests.reference import SPECS, defaults

    m = mod(name)
    params = SPECS[name].params
    xs = away_from_breakpoints(name, POINTS[2:-2])
    ps = defaults(name)
    with jax.enable_x64(True):
        for i, p in enumerate(params):
            if p.domain == "integer":
                continue

            def origin_in(q, x, i=i):
                return m.origin(x, *ps[:i], q, *ps[i + 1 :])

            def grad_in(q, x, i=i):
                return m.grad(x, *ps[:i], q, *ps[i + 1 :])

            pairs = ((origin_in, 0), (grad_in, 1)) if has_origin(name) else ((grad_in, 1),)
            for fn, order in pairs:
                got = jax.vmap(jax.grad(fn), in_axes=(None, 0))(jnp.float64(ps[i]), xs)
                want = derivative(name, order, xs, wrt=i)
                np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9, atol=1e-12)

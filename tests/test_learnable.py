"""Learnable surrogate parameters (opt-in): spike_learnable and ``learnable=True`` give each
parameter d origin / d parameter (the surrogate principle applied to the parameter), summed to
the parameter's shape; the default stays "no gradient". References from mpmath."""

import importlib

import numpy as np
import pytest

from tests.derivatives import away_from_breakpoints, derivative, scaled_params
from tests.reference import SPECS, defaults, has_origin

jax = pytest.importorskip("jax")
jnp = jax.numpy


def mod(name):
    return importlib.import_module(f"surrogen.jax.{name}")


def real_params(name):
    return [i for i, p in enumerate(SPECS[name].params) if p.domain != "integer"]


def test_parameter_gradient_is_d_origin_d_parameter(name):
    m = mod(name)
    if not real_params(name) or not has_origin(name):
        pytest.skip("no real parameters, or no origin (a gradient-only family: no spike_learnable)")
    xs = away_from_breakpoints(name, np.linspace(-3, 3, 37))
    g = np.linspace(0.5, 1.5, xs.size)  # the incoming gradient
    ps = scaled_params(name)
    with jax.enable_x64(True):

        def loss(params, x):
            return jnp.sum(jnp.asarray(g) * m.spike_learnable(x, *params))

        # Only the real parameters are differentiated: an integer one stays a fixed Python int.
        reals = real_params(name)

        def loss_real(values, x):
            params = list(ps)
            for i, v in zip(reals, values, strict=True):
                params[i] = v
            return loss(tuple(params), x)

        start = tuple(jnp.float64(ps[i]) for i in reals)
        dreal, dx = jax.grad(loss_real, argnums=(0, 1))(start, jnp.asarray(xs))
        np.testing.assert_allclose(
            np.asarray(dx), g * derivative(name, 1, xs, ps), rtol=1e-10, atol=1e-13
        )
        for k, i in enumerate(reals):
            want = np.sum(g * derivative(name, 0, xs, ps, wrt=i))
            np.testing.assert_allclose(float(dreal[k]), want, rtol=1e-9, atol=1e-12)
        # per-neuron parameters: each neuron's gradient, not a sum over neurons
        # (only the real parameter is differentiated: an integer one stays a fixed Python int)
        i = real_params(name)[0]

        def loss_i(value):
            return loss(tuple(value if j == i else p for j, p in enumerate(ps)), jnp.asarray(xs))

        dper = jax.grad(loss_i)(jnp.full(xs.shape, ps[i]))
        assert dper.shape == xs.shape
        np.testing.assert_allclose(
            np.asarray(dper), g * derivative(name, 0, xs, ps, wrt=i), rtol=1e-9, atol=1e-12
        )


def test_default_is_no_gradient_and_class_opt_in(name):
    m = mod(name)
    cls = getattr(m, SPECS[name].class_name)
    if not real_params(name) or not has_origin(name):
        pytest.skip("no real parameters, or no origin (a gradient-only family: no spike_learnable)")
    xs = jnp.asarray(away_from_breakpoints(name, np.linspace(-2, 2, 9)))
    ps = tuple(map(float, defaults(name)))  # an integer parameter as a whole float: no gradient

    def loss(fn, params):
        return jnp.sum(fn(xs, *params))

    assert all(float(v) == 0 for v in jax.grad(lambda p: loss(m.spike, p))(ps))
    assert all(float(v) == 0 for v in jax.grad(lambda p: loss(m.spike_jvp, p))(ps))
    frozen = jax.grad(lambda c: jnp.sum(c(xs)))(cls(*ps))
    learnable = jax.grad(lambda c: jnp.sum(c(xs)))(cls(*ps, learnable=True))
    direct = jax.grad(lambda p: loss(m.spike_learnable, p))(ps)
    for i in real_params(name):
        name_i = SPECS[name].params[i].name
        assert float(getattr(frozen, name_i)) == 0.0
        np.testing.assert_allclose(float(getattr(learnable, name_i)), float(direct[i]), rtol=1e-6)
    # smooth mode, learnable: the true derivative of the origin, the same formula
    smooth = jax.grad(lambda c: jnp.sum(c(xs)))(cls(*ps, spiking=False, learnable=True))
    for i in real_params(name):
        name_i = SPECS[name].params[i].name
        np.testing.assert_allclose(
            float(getattr(smooth, name_i)), float(direct[i]), rtol=1e-5, atol=1e-7
        )


def test_a_width_adapts_during_training():
    """A spiking layer and its surrogate steepness trained together by gradient descent: the
    loss falls, the steepness moves, and its first gradient is the mpmath value."""
    m = mod("sigmoid")
    key = jax.random.PRNGKey(0)
    inputs = jax.random.uniform(key, (64, 5))
    w_true = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    targets = (inputs @ w_true - 0.5 >= 0).astype(jnp.float32)

    def loss(params):
        w, layer = params
        spikes = layer(inputs @ w - 0.5)
        return jnp.mean((spikes - targets) ** 2)

    params = (jnp.zeros((5, 3)) + 0.1, m.Sigmoid(alpha=jnp.asarray(1.0), learnable=True))
    # the first gradient in alpha, independently: sum over samples of g * d origin / d alpha
    x = np.asarray(inputs @ params[0] - 0.5, np.float64)
    g = 2 * (np.asarray(x >= 0, np.float64) - np.asarray(targets)) / targets.size
    want = np.sum(g * derivative("sigmoid", 0, x.ravel(), (1.0,), wrt=0).reshape(x.shape))
    first = jax.grad(loss)(params)[1].alpha
    np.testing.assert_allclose(float(first), want, rtol=1e-5)

    @jax.jit
    def step(params):
        value, grads = jax.value_and_grad(loss)(params)
        return jax.tree_util.tree_map(lambda p, d: p - 2.0 * d, params, grads), value

    start = float(loss(params))
    for _ in range(200):
        params, _ = step(params)
    assert float(loss(params)) < 0.5 * start
    assert abs(float(params[1].alpha) - 1.0) > 0.05  # the steepness adapted
    assert params[1].learnable and params[1].spiking  # static fields survive the updates

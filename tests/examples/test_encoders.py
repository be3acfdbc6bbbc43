"""Defining properties of the lecture's encoders."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import encoders


def test_poisson_rate_within_statistical_bounds():
    x = jnp.array([0.0, 0.05, 0.3, 0.7, 1.0])
    n_steps, n_units = 2000, 50
    raster = encoders.poisson(jax.random.PRNGKey(0), jnp.tile(x, (n_units, 1)), n_steps)
    assert raster.shape == (n_steps, n_units, 5) and raster.dtype == jnp.float32
    rate = np.asarray(raster.mean(axis=(0, 1)))
    n = n_steps * n_units
    bound = 5 * np.sqrt(np.asarray(x) * (1 - np.asarray(x)) / n) + 1e-9
    assert np.all(np.abs(rate - np.asarray(x)) <= bound)


def test_poisson_reproducible_with_seed():
    x = jnp.linspace(0, 1, 16)
    a = encoders.poisson(jax.random.PRNGKey(3), x, 50)
    b = encoders.poisson(jax.random.PRNGKey(3), x, 50)
    c = encoders.poisson(jax.random.PRNGKey(4), x, 50)
    assert jnp.array_equal(a, b) and not jnp.array_equal(a, c)


@pytest.mark.parametrize("method", ["log", "linear"])
def test_latency_monotone_and_clamped(method):
    x = jnp.linspace(0.0, 1.0, 101)
    t = np.asarray(encoders.latency_times(x, 50, method=method, threshold=0.2))
    assert np.all(np.diff(t) <= 0), "stronger inputs must not fire later"
    assert np.all((t >= 0) & (t <= 49))
    assert np.all(t[np.asarray(x) <= 0.2] == 49), "sub-threshold inputs clamp to the last step"
    raster = encoders.latency(x, 50, method=method, threshold=0.2)
    assert raster.shape == (50, 101)
    assert np.all(np.asarray(raster.sum(0)) == 1), "exactly one spike per unit"


def test_latency_rc_matches_time_to_first_spike_formula():
    i = jnp.array([0.3, 0.5, 0.9])
    t = encoders.latency_times(i, 1000, tau=5.0, threshold=0.2, method="log", normalize=False)
    np.testing.assert_allclose(t, -5.0 * np.log(1 - 0.2 / np.asarray(i)), rtol=1e-5)


def test_delta_spikes_only_on_changes_above_threshold():
    x = jnp.array([0.0, 0.05, 0.5, 0.5, 0.45, 0.1, 0.1, 0.3])
    out = np.asarray(encoders.delta(x, threshold=0.1))
    d = np.diff(np.asarray(x), prepend=0.0)
    np.testing.assert_array_equal(out[:, 0], d >= 0.1)
    np.testing.assert_array_equal(out[:, 1], -d >= 0.1)
    assert not np.any(out[:, 0] * out[:, 1]), "on and off never fire together"
    assert encoders.delta(jnp.full((10, 3), 0.05), threshold=0.1).sum() == 0
    assert encoders.delta(x, off_spikes=False).shape == x.shape

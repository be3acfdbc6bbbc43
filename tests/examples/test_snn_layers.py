"""LIF, GIF and readout layers: shapes, dtypes, and that they run under jit, grad and lax.scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snn import GIFConfig, LIFConfig, gif_layer, leaky_readout, lif_layer
from surrogates import area, normalised, peak
from surrogen.jax import sigmoid, straight_through, superspike

T, B, N = 30, 4, 8


def _currents(dtype=jnp.float32):
    return (3.0 * jax.random.uniform(jax.random.PRNGKey(0), (T, B, N))).astype(dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_lif_shapes_and_dtypes(dtype):
    spikes, mem = jax.jit(lambda h: lif_layer(h, superspike.spike))(_currents(dtype))
    assert spikes.shape == mem.shape == (T, B, N)
    assert spikes.dtype == mem.dtype == dtype
    assert set(np.unique(np.asarray(spikes, np.float32))) <= {0.0, 1.0}
    assert spikes.sum() > 0


def test_lif_silent_without_input_and_readout_shape():
    spikes, mem = lif_layer(jnp.zeros((T, B, N)), superspike.spike)
    assert spikes.sum() == 0 and mem.sum() == 0
    out = leaky_readout(_currents())
    assert out.shape == (T, B, N) and out.dtype == jnp.float32


def _loss(h, spike_fn, **kw):
    spikes, _ = lif_layer(h, spike_fn, LIFConfig(detach_reset=kw.pop("detach", True)), **kw)
    return spikes.sum()


def test_surrogate_gives_gradient_where_heaviside_gives_none():
    h = _currents()
    g = jax.jit(jax.grad(_loss), static_argnums=1)(h, superspike.spike)
    assert g.shape == h.shape and jnp.all(jnp.isfinite(g)) and jnp.abs(g).sum() > 0
    heaviside = lambda x: (x >= 0).astype(x.dtype)  # noqa: E731  the true derivative: zero almost everywhere
    assert jnp.abs(jax.grad(_loss)(h, heaviside)).sum() == 0


def test_recurrent_and_differentiable_reset_change_the_gradient():
    h, w = _currents(), 0.1 * jnp.ones((N, N))
    g_ff = jax.grad(_loss)(h, superspike.spike)
    g_rec = jax.grad(_loss)(h, superspike.spike, w_rec=w)
    g_diff = jax.grad(_loss)(h, superspike.spike, detach=False)
    assert not jnp.allclose(g_ff, g_rec) and not jnp.allclose(g_ff, g_diff)


def test_gif_threshold_adapts_after_spikes():
    cfg = GIFConfig(a_th=0.5, a_as=-0.2)
    spikes, mem, theta = jax.jit(lambda h: gif_layer(h, superspike.spike, cfg))(_currents())
    assert spikes.shape == mem.shape == theta.shape == (T, B, N)
    assert theta.max() > cfg.theta_inf and theta.min() >= cfg.theta_inf - 1e-6
    lif_spikes, _ = lif_layer(_currents(), superspike.spike)
    assert spikes.sum() < lif_spikes.sum(), "adaptation must reduce firing"
    g = jax.grad(lambda h: gif_layer(h, superspike.spike, cfg)[0].sum())(_currents())
    assert jnp.all(jnp.isfinite(g)) and jnp.abs(g).sum() > 0


def test_normalised_surrogates():
    assert peak(superspike, beta=20.0) == pytest.approx(1.0)
    assert area(sigmoid, alpha=20.0) == pytest.approx(1.0, rel=1e-3)
    assert area(superspike, beta=20.0) == pytest.approx(2.0 / 20.0, rel=1e-2)
    fn = normalised(sigmoid, "peak", alpha=20.0)
    assert jax.grad(fn)(jnp.float32(0.0)) == pytest.approx(1.0)
    unnormalised = normalised(sigmoid, "area", alpha=20.0)  # peak alpha / 4
    assert jax.grad(unnormalised)(jnp.float32(0.0)) == pytest.approx(5.0, rel=1e-3)
    assert jax.grad(normalised(straight_through, "none"))(jnp.float32(3.0)) == pytest.approx(1.0)

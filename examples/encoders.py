"""The lecture's spike encoders: Poisson rate, latency (linear and RC/log) and delta modulation.

All return dense float32 rasters with time as the first axis, ``(T, *x.shape)``, so they feed
:func:`snn.lif_layer` after one matmul. Randomness comes from an explicit JAX key, so a
seed reproduces a raster exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def poisson(key: jax.Array, x: jax.Array, n_steps: int, max_rate: float = 1.0) -> jax.Array:
    """Rate code: at every step each unit fires with probability ``clip(max_rate * x, 0, 1)``.

    ``x`` holds intensities in ``[0, 1]``; ``max_rate`` is the spike probability per step at
    intensity 1 (``rate * dt``), so the expected count is ``n_steps * max_rate * x``.
    """
    p = jnp.clip(max_rate * jnp.asarray(x, jnp.float32), 0.0, 1.0)
    return jax.random.bernoulli(key, p, (n_steps, *p.shape)).astype(jnp.float32)


def latency_times(
    x: jax.Array,
    n_steps: int,
    tau: float = 5.0,
    threshold: float = 0.2,
    method: str = "log",
    normalize: bool = True,
) -> jax.Array:
    """Time to first spike, in steps (float), for intensities ``x`` in ``[0, 1]``.

    ``log`` is the lecture's RC model: a capacitor charged by current ``I`` crosses ``V_thr`` after
    ``t_s = -tau ln(1 - V_thr / I) = tau ln(I / (I - V_thr))``; ``linear`` is ``t_s = tau (1 - I)``.
    Intensities at or below ``threshold`` never cross and are clamped to the last step. With
    ``normalize`` the times are rescaled so that the clamp lands on ``n_steps - 1`` (the RC curve is
    unbounded near the threshold, so the scale is set by an intensity 1% above it; weaker ones
    clamp).
    """
    i = jnp.asarray(x, jnp.float32)
    last = float(n_steps - 1)
    if method == "log":
        above = i > threshold
        safe = jnp.where(above, i, 2.0 * threshold + 1.0)
        t = tau * jnp.log(safe / (safe - threshold))
        t_max = tau * jnp.log(1.01 / 0.01)
    elif method == "linear":
        above = i > threshold
        t = tau * (1.0 - i)
        t_max = tau * (1.0 - threshold)
    else:
        raise ValueError(f"unknown latency method {method!r}; use 'log' or 'linear'")
    if normalize:
        t = t * last / t_max
    return jnp.where(above, jnp.clip(t, 0.0, last), last)


def latency(x: jax.Array, n_steps: int, **kwargs) -> jax.Array:
    """One spike per unit at :func:`latency_times` (rounded down): strong inputs fire first."""
    idx = jnp.floor(latency_times(x, n_steps, **kwargs)).astype(jnp.int32)
    return jax.nn.one_hot(idx, n_steps, dtype=jnp.float32, axis=0)


def delta(x: jax.Array, threshold: float = 0.1, off_spikes: bool = True) -> jax.Array:
    """Delta modulation of a time series ``x`` of shape ``(T, ...)``: only changes make spikes.

    An on spike at ``t`` means ``x[t] - x[t-1] >= threshold``; an off spike means the drop is at
    least ``threshold`` (the first step is compared with zero). With ``off_spikes`` the result has a
    trailing axis of size 2 (on, off); otherwise only on spikes, with ``x``'s shape.
    """
    x = jnp.asarray(x, jnp.float32)
    d = jnp.diff(x, axis=0, prepend=jnp.zeros_like(x[:1]))
    on = (d >= threshold).astype(jnp.float32)
    if not off_spikes:
        return on
    return jnp.stack([on, (-d >= threshold).astype(jnp.float32)], axis=-1)

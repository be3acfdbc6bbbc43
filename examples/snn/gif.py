"""GIF layer: LIF plus an after-spike current and an adaptive threshold.

This follows the Mihalas-Niebur GIF model used in the lecture's working-memory part::

    tau_mem dV/dt = -V + I + I_as          dI_as/dt = -I_as / tau_as,   I_as += a_as on a spike
    dTheta/dt = a (V - 0) - (Theta - theta_inf) / tau_th,              Theta += a_th on a spike

The threshold ``Theta`` decays over ``tau_th`` (hundreds of ms), far slower than the membrane, so it
stores how much a neuron fired recently; that slow variable is what lets GIF networks keep a cue
across a delay (Bellec et al. 2018's adaptive neurons are the special case ``a = a_as = 0``).
Exponential Euler as in :mod:`snn.lif`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .lif import SpikeFn, decay


class GIFConfig(NamedTuple):
    """Static GIF settings; times in seconds. ``a_th = 0`` and ``a_as = 0`` give back plain LIF."""

    tau_mem: float = 20e-3
    tau_syn: float = 10e-3
    dt: float = 1e-3
    theta_inf: float = 1.0
    tau_th: float = 600e-3
    a_th: float = 0.2
    a_v: float = 0.0
    tau_as: float = 100e-3
    a_as: float = 0.0
    detach_reset: bool = True


DEFAULT = GIFConfig()


def gif_layer(
    currents: jax.Array,
    spike_fn: SpikeFn,
    cfg: GIFConfig = DEFAULT,
    w_rec: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Run a GIF population over ``currents`` of shape ``(T, batch, n)``.

    The surrogate sees ``V - Theta``, so its gradient also flows into the threshold's history (as in
    Bellec et al.'s LSNN). Returns ``(spikes, mem, theta)``, each ``(T, batch, n)``.
    """
    a_syn, a_mem = decay(cfg.tau_syn, cfg.dt), decay(cfg.tau_mem, cfg.dt)
    a_th, a_as = decay(cfg.tau_th, cfg.dt), decay(cfg.tau_as, cfg.dt)
    zeros = jnp.zeros(currents.shape[1:], currents.dtype)
    theta0 = jnp.full_like(zeros, cfg.theta_inf)

    def step(carry, h: jax.Array):
        syn, mem, i_as, theta = carry
        s = spike_fn(mem - theta)
        rst = jax.lax.stop_gradient(s) if cfg.detach_reset else s
        if w_rec is not None:
            h = h + s @ w_rec
        new_syn = a_syn * syn + h
        new_mem = (a_mem * mem + (1.0 - a_mem) * (syn + i_as)) * (1.0 - rst)
        new_i_as = a_as * i_as + cfg.a_as * s
        drift = (1.0 - a_th) * cfg.tau_th * cfg.a_v * mem
        new_theta = cfg.theta_inf + a_th * (theta - cfg.theta_inf) + drift + cfg.a_th * s
        return (new_syn, new_mem, new_i_as, new_theta), (s, mem, theta)

    _, (spikes, mem, theta) = jax.lax.scan(step, (zeros, zeros, zeros, theta0), currents)
    return spikes, mem, theta

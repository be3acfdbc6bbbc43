"""Current-based LIF layer and leaky-integrator readout, discretised with exponential Euler.

Continuous model (the lecture's "A LIF based SNN network model")::

    tau_syn dI/dt = -I + W s_in(t)          tau_mem dV/dt = -V + I

Exponential Euler holds the input constant over one step ``dt`` and integrates exactly, so
``I[t+1] = a_syn I[t] + W s_in[t]`` and ``V[t+1] = a_mem V[t] + (1 - a_mem) I[t]`` with
``a = exp(-dt / tau)``. A spike ``s[t] = spike_fn(V[t] - threshold)`` resets ``V`` to zero in the
next step. The (1 - a_mem) factor makes the steady-state voltage equal the input current, so weights
are in units of the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

SpikeFn = Callable[[jax.Array], jax.Array]


def decay(tau: float, dt: float) -> float:
    """Exponential-Euler decay factor ``exp(-dt / tau)`` for one step."""
    return math.exp(-dt / tau)


class LIFConfig(NamedTuple):
    """Static LIF settings; times in seconds."""

    tau_mem: float = 20e-3
    tau_syn: float = 10e-3
    dt: float = 1e-3
    threshold: float = 1.0
    detach_reset: bool = True


DEFAULT = LIFConfig()


def lif_layer(
    currents: jax.Array,
    spike_fn: SpikeFn,
    cfg: LIFConfig = DEFAULT,
    w_rec: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Run a LIF population over time with ``lax.scan``.

    Args:
      currents: feed-forward input ``W s_in`` of shape ``(T, batch, n)``; computing it outside the
        scan is one large matmul instead of ``T`` small ones.
      spike_fn: a surrogate spike function, e.g. ``surrogen.jax.superspike.spike``.
      cfg: time constants, threshold, and whether the reset is detached from the graph. Zenke &
        Vogels (2021) found that differentiating through the reset hurts un-normalised surrogates.
      w_rec: optional recurrent weights ``(n, n)``; spikes at ``t`` feed the synaptic current at
        ``t + 1``.

    Returns:
      ``(spikes, mem)``, each ``(T, batch, n)`` in the dtype of ``currents``.
    """
    a_syn, a_mem = decay(cfg.tau_syn, cfg.dt), decay(cfg.tau_mem, cfg.dt)
    zeros = jnp.zeros(currents.shape[1:], currents.dtype)

    def step(carry: tuple[jax.Array, jax.Array], h: jax.Array):
        syn, mem = carry
        s = spike_fn(mem - cfg.threshold)
        rst = jax.lax.stop_gradient(s) if cfg.detach_reset else s
        if w_rec is not None:
            h = h + s @ w_rec
        new_syn = a_syn * syn + h
        new_mem = (a_mem * mem + (1.0 - a_mem) * syn) * (1.0 - rst)
        return (new_syn, new_mem), (s, mem)

    _, (spikes, mem) = jax.lax.scan(step, (zeros, zeros), currents)
    return spikes, mem


def leaky_readout(currents: jax.Array, cfg: LIFConfig = DEFAULT) -> jax.Array:
    """Non-spiking leaky integrator (LIF filters, no threshold); returns ``(T, batch, n)``."""
    a_syn, a_mem = decay(cfg.tau_syn, cfg.dt), decay(cfg.tau_mem, cfg.dt)
    zeros = jnp.zeros(currents.shape[1:], currents.dtype)

    def step(carry: tuple[jax.Array, jax.Array], h: jax.Array):
        syn, mem = carry
        new_mem = a_mem * mem + (1.0 - a_mem) * syn
        return (a_syn * syn + h, new_mem), new_mem

    _, mem = jax.lax.scan(step, (zeros, zeros), currents)
    return mem

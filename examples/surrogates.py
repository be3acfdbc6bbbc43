"""Rescaled surrogates, built only from a generated module's public ``spike`` and ``grad``.

Zenke & Vogels (2021) separate a surrogate's *shape* from its *scale*. Two scalings are used here:

* ``"peak"``: divide by ``grad(0)`` so every shape peaks at 1 whatever its steepness ``beta``;
* ``"area"``: divide by the integral of ``grad``, i.e. use the true derivative of a smooth step of
  steepness ``beta``; its peak then grows in proportion to ``beta`` (the "un-normalised"
  surrogates).
"""

from __future__ import annotations

from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

from snn.lif import SpikeFn


def scaled(module: ModuleType, scale: float = 1.0, **params: float) -> SpikeFn:
    """``x -> module.spike(x, **params)`` with backward ``scale * module.grad(x, **params)``."""

    @jax.custom_vjp
    def spike(x: jax.Array) -> jax.Array:
        return module.spike(x, **params)

    def spike_fwd(x: jax.Array):
        return spike(x), x

    def spike_bwd(x: jax.Array, g: jax.Array):
        return (g * (scale * module.grad(x, **params)).astype(g.dtype),)

    spike.defvjp(spike_fwd, spike_bwd)
    return spike


def peak(module: ModuleType, **params: float) -> float:
    """The surrogate's value at threshold, ``grad(0)`` (its maximum for every shape used here)."""
    return float(module.grad(jnp.zeros((), jnp.float32), **params))


def area(
    module: ModuleType, half_width: float = 1000.0, n: int = 4_000_001, **params: float
) -> float:
    """Integrate ``grad`` over ``[-half_width, half_width]`` (trapezoid rule, float64 sum).

    The grid step (5e-4 by default) resolves widths down to ``1/beta`` with ``beta = 100``;
    SuperSpike's ``1/x^2`` tail beyond the window loses less than 0.2% at ``beta = 1``.
    """
    x = jnp.linspace(-half_width, half_width, n, dtype=jnp.float32)
    y = np.asarray(module.grad(x, **params), np.float64)
    return float(np.trapezoid(y, dx=2.0 * half_width / (n - 1)))


def normalised(module: ModuleType, by: str, **params: float) -> SpikeFn:
    """Rescale to unit ``"peak"`` or unit ``"area"``, or leave as generated (``"none"``)."""
    factor = {"peak": peak, "area": area, "none": lambda m, **p: 1.0}[by](module, **params)
    return scaled(module, 1.0 / factor, **params)

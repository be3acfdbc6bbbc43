"""Fused multi-step LIF neurons: the forward over all time steps is one kernel, and so is the BPTT
backward, with a generated surrogate gradient spliced in (Numba CPU and Numba CUDA).

The neuron, per step ``t`` (``x`` is the input current, ``v`` the membrane after the reset)::

    h[t] = decay * v[t-1] + x[t]                     (leak, then input)
    s[t] = spike(h[t] - v_threshold)                 (Heaviside forward, surrogate backward)
    v[t] = h[t] - s[t] * v_threshold                 (soft reset, ``v_reset=None``)
    v[t] = h[t] * (1 - s[t]) + v_reset * s[t]        (hard reset to ``v_reset``)

With ``detach_reset=True`` the reset term carries no gradient (``s`` in the reset is treated as a
constant), as Zenke & Vogels (2021) recommend. The backward pass runs the recursion in reverse::

    dv[t]/dh[t] = 1 - v_threshold * sg[t]            (soft; 1 if detached)
                = (1 - s[t]) + (v_reset - h[t]) * sg[t]   (hard; 1 - s[t] if detached)
    gh[t] = gs[t] * sg[t] + (gv[t] + decay * gh[t+1]) * dv[t]/dh[t],   gx[t] = gh[t]

where ``sg[t] = grad(h[t] - v_threshold, *params)`` is the surrogate gradient and ``gs``, ``gv``
the incoming gradients of the spikes and of the membrane. The kernels are built once per
surrogate (its compiled ``grad`` is inlined) and per backend, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LIFConfig", "reference_backward", "reference_forward"]


@dataclass(frozen=True)
class LIFConfig:
    """Parameters of a multi-step LIF layer.

    Attributes:
      decay: membrane decay per step, ``exp(-dt / tau_mem)``; in [0, 1].
      v_threshold: firing threshold (the surrogate sees ``h - v_threshold``).
      v_reset: the membrane after a spike (hard reset), or None to subtract the threshold
        (soft reset).
      detach_reset: if True (default), the reset carries no gradient.
    """

    decay: float = 0.9
    v_threshold: float = 1.0
    v_reset: float | None = None
    detach_reset: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"decay must lie in [0, 1], got {self.decay}")


def reference_forward(x: np.ndarray, cfg: LIFConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain NumPy loop over time (the definition the kernels are tested against):
    ``(spikes, v, h)``, each of x's shape ``(T, ...)``."""
    v = np.zeros(x.shape[1:], x.dtype)
    s_all, v_all, h_all = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    for t in range(x.shape[0]):
        h = cfg.decay * v + x[t]
        s = (h - cfg.v_threshold >= 0).astype(x.dtype)
        v = h - s * cfg.v_threshold if cfg.v_reset is None else h * (1 - s) + cfg.v_reset * s
        s_all[t], v_all[t], h_all[t] = s, v, h
    return s_all, v_all, h_all


def reference_backward(
    h: np.ndarray,
    s: np.ndarray,
    grad_s: np.ndarray,
    grad_v: np.ndarray,
    sg: np.ndarray,
    cfg: LIFConfig,
) -> np.ndarray:
    """The BPTT recursion of the module docstring in NumPy; ``sg`` is the surrogate gradient at
    ``h - v_threshold``. Returns the gradient of the input current."""
    gx = np.empty_like(h)
    gh_next = np.zeros(h.shape[1:], h.dtype)
    for t in range(h.shape[0] - 1, -1, -1):
        if cfg.v_reset is None:
            dv_dh = np.ones_like(h[t]) if cfg.detach_reset else 1 - cfg.v_threshold * sg[t]
        else:
            dv_dh = 1 - s[t]
            if not cfg.detach_reset:
                dv_dh = dv_dh + (cfg.v_reset - h[t]) * sg[t]
        gh = grad_s[t] * sg[t] + (grad_v[t] + cfg.decay * gh_next) * dv_dh
        gx[t], gh_next = gh, gh
    return gx

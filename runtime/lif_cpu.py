"""Fused multi-step LIF on the CPU: one ``numba.prange`` kernel over neurons for the forward over
all time steps, and one for the BPTT backward, with a surrogate's compiled ``grad`` inlined.

The neuron and its backward recursion are defined in :mod:`surrogen.runtime.lif`; each generated
``surrogen.numba_cpu.<name>`` module exposes ``fused_lif(config, *params)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from .lif import LIFConfig

__all__ = ["FusedLIF", "kernels"]

_KERNELS: dict[Any, tuple[Any, Any]] = {}
BLOCK = 256  # neurons per thread task: 1 KiB of float32 state per array, stays in L1


def kernels(grad: Any) -> tuple[Any, Any]:
    """(forward, backward) compiled for one surrogate's jitted scalar ``grad(x, *params)``.

    Built once per surrogate and process (a closure over ``grad`` cannot use Numba's disk cache);
    each is compiled for float32 and float64 on first call.
    """
    if grad in _KERNELS:
        return _KERNELS[grad]

    # Threads take blocks of neurons; within a block the time loop is outside and the neuron loop
    # inside, so that every access is contiguous and the inner loop vectorises (a neuron-per-thread
    # loop over time strides through memory and measured 2-3x slower than JAX's scan).
    @numba.njit(parallel=True, error_model="numpy")
    def forward(x, decay, v_th, v_reset, hard, one, s, v_out, h_out):  # type: ignore[no-untyped-def]
        zero = one - one
        steps, neurons = x.shape
        for b in numba.prange((neurons + BLOCK - 1) // BLOCK):
            lo, hi = b * BLOCK, min(b * BLOCK + BLOCK, neurons)
            v = np.zeros(hi - lo, x.dtype)
            for t in range(steps):
                for j in range(lo, hi):
                    h = decay * v[j - lo] + x[t, j]
                    sp = one if h - v_th >= zero else zero
                    vj = h * (one - sp) + v_reset * sp if hard else h - sp * v_th
                    v[j - lo] = vj
                    s[t, j], v_out[t, j], h_out[t, j] = sp, vj, h

    @numba.njit(parallel=True, error_model="numpy")
    def backward(h, s, gs, gv, decay, v_th, v_reset, hard, detach, one, params, gx):  # type: ignore[no-untyped-def]
        steps, neurons = h.shape
        for b in numba.prange((neurons + BLOCK - 1) // BLOCK):
            lo, hi = b * BLOCK, min(b * BLOCK + BLOCK, neurons)
            gh_next = np.zeros(hi - lo, h.dtype)
            for t in range(steps - 1, -1, -1):
                for j in range(lo, hi):
                    sg = grad(h[t, j] - v_th, *params)
                    if hard:
                        dv = one - s[t, j]
                        if not detach:
                            dv = dv + (v_reset - h[t, j]) * sg
                    else:
                        dv = one if detach else one - v_th * sg
                    gh = gs[t, j] * sg + (gv[t, j] + decay * gh_next[j - lo]) * dv
                    gx[t, j] = gh
                    gh_next[j - lo] = gh

    _KERNELS[grad] = (forward, backward)
    return forward, backward


def _as_2d(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(a.shape[0], -1))


def _check_2d(dtype: np.dtype, **arrays: np.ndarray) -> None:
    """Every array is a C-contiguous (T, N) NumPy array of ``dtype`` and of the first's shape."""
    shape = next(iter(arrays.values())).shape
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype != dtype:
            got = getattr(a, "dtype", type(a).__name__)
            raise TypeError(f"{name} must be a NumPy array of {dtype}, got {got}")
        if a.ndim != 2 or a.shape != shape or not a.flags.c_contiguous:
            want = "(T, N)" if len(shape) != 2 else shape
            raise ValueError(f"{name} must be C-contiguous of shape {want}, got {a.shape}")


class FusedLIF:
    """A multi-step LIF layer with a fused forward and a fused BPTT backward (NumPy arrays).

    ``forward(x)`` takes the input currents ``x`` of shape ``(T, ...)`` (float32 or float64) and
    returns ``(spikes, v)`` of the same shape and dtype; it keeps what ``backward`` needs.
    ``backward(grad_spikes, grad_v=None)`` returns the gradient of the loss with respect to ``x``.

    ``forward_into`` and ``backward_into`` run the same kernels on caller-owned ``(T, N)``
    buffers and keep nothing on the object, so one layer can serve calls whose backward passes
    come in any order (``surrogen.runtime.lif_torch`` uses them; ``torch(x)`` calls it).

    Raises:
      TypeError: x is not float32 or float64.
      ValueError: x has no time axis, or a gradient's shape differs from x's.
    """

    def __init__(self, grad: Callable[..., Any], params: tuple[float, ...], config: LIFConfig):
        self.config, self.params = config, tuple(params)
        self._forward, self._backward = kernels(grad)
        self._saved: tuple[np.ndarray, np.ndarray] | None = None

    def _scalars(self, dtype: np.dtype) -> tuple[Any, ...]:
        c, t = self.config, dtype.type
        v_reset = 0.0 if c.v_reset is None else c.v_reset
        return t(c.decay), t(c.v_threshold), t(v_reset), c.v_reset is not None

    def forward_into(self, x: np.ndarray, spikes: np.ndarray, v: np.ndarray, h: np.ndarray) -> None:
        """The forward kernel on C-contiguous ``(T, N)`` arrays of one dtype (float32 or
        float64): fills ``spikes``, ``v`` and ``h`` (the membrane before the reset, which
        ``backward_into`` needs with ``spikes``).

        Raises:
          TypeError: x is not float32 or float64, or a buffer has another dtype.
          ValueError: an array is not C-contiguous or not of x's 2-D shape.
        """
        dtype = getattr(x, "dtype", None)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"x must be float32 or float64, got {dtype}")
        _check_2d(np.dtype(dtype), x=x, spikes=spikes, v=v, h=h)
        self._forward(x, *self._scalars(x.dtype), x.dtype.type(1), spikes, v, h)

    def backward_into(
        self,
        h: np.ndarray,
        spikes: np.ndarray,
        grad_spikes: np.ndarray,
        grad_v: np.ndarray,
        grad_x: np.ndarray,
    ) -> None:
        """The BPTT kernel on C-contiguous ``(T, N)`` arrays of ``h``'s dtype: fills ``grad_x``
        from the ``h`` and ``spikes`` of ``forward_into`` and the incoming gradients.

        Raises:
          TypeError: h is not float32 or float64, or another array has another dtype.
          ValueError: an array is not C-contiguous or not of h's 2-D shape.
        """
        dtype = getattr(h, "dtype", None)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"h must be float32 or float64, got {dtype}")
        arrays = {"h": h, "spikes": spikes, "grad_spikes": grad_spikes, "grad_v": grad_v}
        _check_2d(np.dtype(dtype), **arrays, grad_x=grad_x)
        t = h.dtype.type
        params = tuple(t(p) for p in self.params)
        decay, v_th, v_reset, hard = self._scalars(h.dtype)
        detach = self.config.detach_reset
        self._backward(
            h, spikes, grad_spikes, grad_v, decay, v_th, v_reset, hard, detach, t(1), params, grad_x
        )

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"x must be float32 or float64, got {x.dtype}")
        if x.ndim < 1:
            raise ValueError("x needs a leading time axis: shape (T, ...)")
        x2 = _as_2d(x)
        s, v, h = np.empty_like(x2), np.empty_like(x2), np.empty_like(x2)
        self.forward_into(x2, s, v, h)
        self._saved = (h, s)
        return s.reshape(x.shape), v.reshape(x.shape)

    def backward(self, grad_spikes: np.ndarray, grad_v: np.ndarray | None = None) -> np.ndarray:
        if self._saved is None:
            raise RuntimeError("backward() needs a forward() first")
        h, s = self._saved
        shape = grad_spikes.shape
        gs = _as_2d(np.asarray(grad_spikes, dtype=h.dtype))
        gv = np.zeros_like(h) if grad_v is None else _as_2d(np.asarray(grad_v, dtype=h.dtype))
        if gs.shape != h.shape or gv.shape != h.shape:
            raise ValueError(f"gradients must have the forward's shape, got {shape}")
        gx = np.empty_like(h)
        self.backward_into(h, s, gs, gv, gx)
        return gx.reshape(shape)

    def torch(self, x: Any) -> tuple[Any, Any]:
        """``surrogen.runtime.lif_torch.lif(x, self)``: ``(spikes, v)`` of a CPU tensor ``x``,
        differentiable by ``torch.autograd`` (needs PyTorch)."""
        from .lif_torch import lif

        return lif(x, self)

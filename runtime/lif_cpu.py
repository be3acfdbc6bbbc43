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

__all__ = ["FusedLIF", "block_size", "kernels"]

_KERNELS: dict[Any, tuple[Any, Any]] = {}
# Neurons per thread task: a block's rows are contiguous runs of this many elements, which the
# hardware prefetchers stream well from a few KiB up (256 measured 1.5x slower than 4096 at
# T = 100, N = 32768 on 2 cores); its state (one row) stays in L1/L2. Smaller blocks only where
# there would otherwise be fewer blocks than threads.
MIN_BLOCK, MAX_BLOCK = 256, 4096


def block_size(neurons: int, threads: int | None = None) -> int:
    """Neurons per task: the neurons split evenly over the threads, in multiples of 64 and within
    [MIN_BLOCK, MAX_BLOCK] (``threads`` defaults to Numba's thread count)."""
    threads = numba.get_num_threads() if threads is None else threads
    share = -(-neurons // max(threads, 1))
    return max(MIN_BLOCK, min(MAX_BLOCK, -(-share // 64) * 64))


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
    def forward(x, decay, v_th, v_reset, hard, one, block, s, v_out, h_out):  # type: ignore[no-untyped-def]
        zero = one - one
        steps, neurons = x.shape
        for b in numba.prange((neurons + block - 1) // block):
            lo, hi = b * block, min(b * block + block, neurons)
            v = np.zeros(hi - lo, x.dtype)
            for t in range(steps):
                for j in range(lo, hi):
                    h = decay * v[j - lo] + x[t, j]
                    sp = one if h - v_th >= zero else zero
                    vj = h * (one - sp) + v_reset * sp if hard else h - sp * v_th
                    v[j - lo] = vj
                    s[t, j], v_out[t, j], h_out[t, j] = sp, vj, h

    @numba.njit(parallel=True, error_model="numpy")
    def backward(h, gs, gv, decay, v_th, v_reset, hard, detach, one, params, block, gx):  # type: ignore[no-untyped-def]
        zero = one - one
        steps, neurons = h.shape
        for b in numba.prange((neurons + block - 1) // block):
            lo, hi = b * block, min(b * block + block, neurons)
            gh_next = np.zeros(hi - lo, h.dtype)
            for t in range(steps - 1, -1, -1):
                for j in range(lo, hi):
                    u = h[t, j] - v_th
                    sg = grad(u, *params)
                    if hard:
                        # The forward's spike, recomputed from h bitwise (the same comparison):
                        # reading s instead would add a (T, N) array to the memory traffic.
                        dv = one - (one if u >= zero else zero)
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
        self._saved: np.ndarray | None = None  # h of the last forward (backward recomputes s)

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
        block = block_size(x.shape[1])
        self._forward(x, *self._scalars(x.dtype), x.dtype.type(1), block, spikes, v, h)

    def backward_into(
        self,
        h: np.ndarray,
        spikes: np.ndarray,
        grad_spikes: np.ndarray,
        grad_v: np.ndarray,
        grad_x: np.ndarray,
    ) -> None:
        """The BPTT kernel on C-contiguous ``(T, N)`` arrays of ``h``'s dtype: fills ``grad_x``
        from the ``h`` of ``forward_into`` and the incoming gradients. ``spikes`` (the forward's)
        is checked but not read: the kernel recomputes each spike from ``h`` with the forward's
        own comparison (bitwise the same), which saves reading a ``(T, N)`` array.

        Raises:
          TypeError: h is not float32 or float64, or another array has another dtype.
          ValueError: an array is not C-contiguous or not of h's 2-D shape.
        """
        dtype = getattr(h, "dtype", None)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"h must be float32 or float64, got {dtype}")
        arrays = {"h": h, "spikes": spikes, "grad_spikes": grad_spikes, "grad_v": grad_v}
        _check_2d(np.dtype(dtype), **arrays, grad_x=grad_x)
        self._run_backward(h, grad_spikes, grad_v, grad_x)

    def _run_backward(self, h: np.ndarray, gs: np.ndarray, gv: np.ndarray, gx: np.ndarray) -> None:
        t = h.dtype.type
        params = tuple(t(p) for p in self.params)
        decay, v_th, v_reset, hard = self._scalars(h.dtype)
        detach = self.config.detach_reset
        block = block_size(h.shape[1])
        self._backward(h, gs, gv, decay, v_th, v_reset, hard, detach, t(1), params, block, gx)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"x must be float32 or float64, got {x.dtype}")
        if x.ndim < 1:
            raise ValueError("x needs a leading time axis: shape (T, ...)")
        x2 = _as_2d(x)
        s, v = np.empty_like(x2), np.empty_like(x2)
        # h never leaves the object: the last forward's buffer is reused when it fits (a fresh
        # one costs page faults on every call: a large allocation is a new mapping).
        h = self._saved
        if h is None or h.shape != x2.shape or h.dtype != x2.dtype:
            h = np.empty_like(x2)
        self.forward_into(x2, s, v, h)
        self._saved = h
        return s.reshape(x.shape), v.reshape(x.shape)

    def backward(self, grad_spikes: np.ndarray, grad_v: np.ndarray | None = None) -> np.ndarray:
        if self._saved is None:
            raise RuntimeError("backward() needs a forward() first")
        h = self._saved
        shape = grad_spikes.shape
        gs = _as_2d(np.asarray(grad_spikes, dtype=h.dtype))
        gv = np.zeros_like(h) if grad_v is None else _as_2d(np.asarray(grad_v, dtype=h.dtype))
        if gs.shape != h.shape or gv.shape != h.shape:
            raise ValueError(f"gradients must have the forward's shape, got {shape}")
        gx = np.empty_like(h)
        self._run_backward(h, gs, gv, gx)
        return gx.reshape(shape)

    def torch(self, x: Any) -> tuple[Any, Any]:
        """``surrogen.runtime.lif_torch.lif(x, self)``: ``(spikes, v)`` of a CPU tensor ``x``,
        differentiable by ``torch.autograd`` (needs PyTorch)."""
        from .lif_torch import lif

        return lif(x, self)

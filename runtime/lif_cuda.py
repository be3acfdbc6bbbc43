"""Fused multi-step LIF on a CUDA GPU: one thread per neuron runs all time steps of the forward, and
of the BPTT backward, with a surrogate's device function (``grad_f32``/``grad_f64``) inlined.

The neuron and its backward recursion are defined in :mod:`surrogen.runtime.lif`; each generated
``surrogen.numba_cuda.<name>`` module exposes ``fused_lif(config, *params)``. Arrays may be NumPy
(copied to the device and back) or device arrays (Numba, CuPy, PyTorch: kept on the device).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from .lif import LIFConfig
from .numba_cuda import as_device, is_device_array

__all__ = ["FusedLIF", "kernels"]

_KERNELS: dict[Any, tuple[Any, Any]] = {}
THREADS_PER_BLOCK = 128


def kernels(grad: Any) -> tuple[Any, Any]:
    """(forward, backward) CUDA kernels for one typed device function ``grad(x, *params)``."""
    if grad in _KERNELS:
        return _KERNELS[grad]

    @cuda.jit
    def forward(x, decay, v_th, v_reset, hard, one, s, v_out, h_out):  # type: ignore[no-untyped-def]
        n = cuda.grid(1)  # type: ignore[call-arg,var-annotated]
        if n < x.shape[1]:
            zero = one - one
            v = zero
            for t in range(x.shape[0]):
                h = decay * v + x[t, n]
                sp = one if h - v_th >= zero else zero
                v = h * (one - sp) + v_reset * sp if hard else h - sp * v_th
                s[t, n] = sp
                v_out[t, n] = v
                h_out[t, n] = h

    @cuda.jit
    def backward(h, s, gs, gv, decay, v_th, v_reset, hard, detach, one, params, gx):  # type: ignore[no-untyped-def]
        n = cuda.grid(1)  # type: ignore[call-arg,var-annotated]
        if n < h.shape[1]:
            gh_next = one - one
            for t in range(h.shape[0] - 1, -1, -1):
                sg = grad(h[t, n] - v_th, *params)
                if hard:
                    dv = one - s[t, n]
                    if not detach:
                        dv = dv + (v_reset - h[t, n]) * sg
                else:
                    dv = one if detach else one - v_th * sg
                gh = gs[t, n] * sg + (gv[t, n] + decay * gh_next) * dv
                gx[t, n] = gh
                gh_next = gh

    _KERNELS[grad] = (forward, backward)
    return forward, backward


def _device_2d(a: Any) -> tuple[Any, bool]:
    """A (T, N) device view of ``a``: device arrays reshaped in place, NumPy copied over."""
    if is_device_array(a):
        a = as_device(a)
        return a.reshape(a.shape[0], -1), True
    a = np.ascontiguousarray(a)
    return cuda.to_device(a.reshape(a.shape[0], -1)), False


def _check_2d(dtype: np.dtype, **arrays: Any) -> list[Any]:
    """Every array as a Numba device array: 2-D, of ``dtype`` and of the first one's shape."""
    out, shape = [], None
    for name, a in arrays.items():
        if not is_device_array(a):
            raise TypeError(f"{name} must be a device array, got {type(a).__name__}")
        a = as_device(a)
        shape = tuple(a.shape) if shape is None else shape
        if np.dtype(a.dtype) != dtype:
            raise TypeError(f"{name} must be of dtype {dtype}, got {np.dtype(a.dtype)}")
        if len(a.shape) != 2 or tuple(a.shape) != shape:
            want = "(T, N)" if len(shape) != 2 else shape
            raise ValueError(f"{name} must be of shape {want}, got {tuple(a.shape)}")
        out.append(a)
    return out


class FusedLIF:
    """A multi-step LIF layer with a fused forward and backward on the GPU (float32 or float64).

    ``forward(x)`` takes input currents of shape ``(T, ...)`` and returns ``(spikes, v)``;
    ``backward(grad_spikes, grad_v=None)`` returns the gradient with respect to ``x``. NumPy in
    gives NumPy out; device arrays in give Numba device arrays out.

    ``forward_into`` and ``backward_into`` run the same kernels on caller-owned ``(T, N)`` device
    arrays, on a given stream, and keep nothing on the object (``surrogen.runtime.lif_torch``
    uses them with buffers from PyTorch's allocator; ``torch(x)`` calls it).

    Raises:
      TypeError: x is not float32 or float64.
      ValueError: x has no time axis, or a gradient's shape differs from x's.
    """

    def __init__(self, grads: dict[str, Any], params: tuple[float, ...], config: LIFConfig):
        self.config, self.params, self._grads = config, tuple(params), grads
        self._saved: tuple[Any, Any, bool, tuple[int, ...]] | None = None

    def _scalars(self, dtype: np.dtype) -> tuple[Any, ...]:
        c, t = self.config, dtype.type
        v_reset = 0.0 if c.v_reset is None else c.v_reset
        return t(c.decay), t(c.v_threshold), t(v_reset), c.v_reset is not None

    def _dtype(self, name: str, a: Any) -> np.dtype:
        dtype = getattr(a, "dtype", None)
        dtype = np.dtype(np.object_ if dtype is None else dtype)
        if dtype.name not in self._grads:
            raise TypeError(f"{name} must be float32 or float64, got {dtype}")
        return dtype

    def forward_into(self, x: Any, spikes: Any, v: Any, h: Any, stream: Any = 0) -> None:
        """The forward kernel on ``(T, N)`` device arrays (Numba's, or anything with
        ``__cuda_array_interface__``) of one dtype, launched on ``stream``: fills ``spikes``,
        ``v`` and ``h`` (the membrane before the reset, which ``backward_into`` needs).

        Raises:
          TypeError: x is not float32 or float64, an array is not on the device or has
            another dtype.
          ValueError: an array is not of x's 2-D shape.
        """
        dtype = self._dtype("x", x)
        arrays = _check_2d(dtype, x=x, spikes=spikes, v=v, h=h)
        forward, _ = kernels(self._grads[dtype.name])
        blocks = (arrays[0].shape[1] + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        forward[max(blocks, 1), THREADS_PER_BLOCK, stream](
            arrays[0], *self._scalars(dtype), dtype.type(1), *arrays[1:]
        )

    def backward_into(
        self, h: Any, spikes: Any, grad_spikes: Any, grad_v: Any, grad_x: Any, stream: Any = 0
    ) -> None:
        """The BPTT kernel on ``(T, N)`` device arrays of ``h``'s dtype, launched on ``stream``:
        fills ``grad_x`` from the ``h`` and ``spikes`` of ``forward_into`` and the incoming
        gradients.

        Raises:
          TypeError: h is not float32 or float64, an array is not on the device or has
            another dtype.
          ValueError: an array is not of h's 2-D shape.
        """
        dtype = self._dtype("h", h)
        arrays = _check_2d(
            dtype, h=h, spikes=spikes, grad_spikes=grad_spikes, grad_v=grad_v, grad_x=grad_x
        )
        _, backward = kernels(self._grads[dtype.name])
        params = tuple(dtype.type(p) for p in self.params)
        decay, v_th, v_reset, hard = self._scalars(dtype)
        detach, one = self.config.detach_reset, dtype.type(1)
        blocks = (arrays[0].shape[1] + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        backward[max(blocks, 1), THREADS_PER_BLOCK, stream](
            *arrays[:4], decay, v_th, v_reset, hard, detach, one, params, arrays[4]
        )

    def forward(self, x: Any) -> tuple[Any, Any]:
        dtype = np.dtype(x.dtype)
        if dtype.name not in self._grads:
            raise TypeError(f"x must be float32 or float64, got {dtype}")
        if len(x.shape) < 1:
            raise ValueError("x needs a leading time axis: shape (T, ...)")
        shape = tuple(x.shape)
        xd, on_device = _device_2d(x)
        s, v, h = (cuda.device_array(xd.shape, dtype) for _ in range(3))
        self.forward_into(xd, s, v, h)
        self._saved = (h, s, on_device, shape)
        if on_device:
            return s.reshape(shape), v.reshape(shape)
        return s.copy_to_host().reshape(shape), v.copy_to_host().reshape(shape)

    def backward(self, grad_spikes: Any, grad_v: Any = None) -> Any:
        if self._saved is None:
            raise RuntimeError("backward() needs a forward() first")
        h, s, on_device, shape = self._saved
        dtype = np.dtype(h.dtype)
        if tuple(grad_spikes.shape) != shape or (
            grad_v is not None and tuple(grad_v.shape) != shape
        ):
            raise ValueError(f"gradients must have the forward's shape {shape}")
        gs, _ = _device_2d(
            grad_spikes if is_device_array(grad_spikes) else np.asarray(grad_spikes, dtype)
        )
        if grad_v is None:
            gv = cuda.to_device(np.zeros(h.shape, dtype))
        else:
            gv, _ = _device_2d(grad_v if is_device_array(grad_v) else np.asarray(grad_v, dtype))
        gx = cuda.device_array(h.shape, dtype)
        self.backward_into(h, s, gs, gv, gx)
        return gx.reshape(shape) if on_device else gx.copy_to_host().reshape(shape)

    def torch(self, x: Any) -> tuple[Any, Any]:
        """``surrogen.runtime.lif_torch.lif(x, self)``: ``(spikes, v)`` of a CUDA tensor ``x``,
        differentiable by ``torch.autograd`` (needs PyTorch built with CUDA)."""
        from .lif_torch import lif

        return lif(x, self)

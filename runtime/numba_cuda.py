"""Helpers for the generated Numba CUDA modules: the host launcher and the simulator's math."""

from __future__ import annotations

import math as _math
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numba import config, cuda

__all__ = ["as_device", "is_device_array", "launch", "math"]

# NUMBA_ENABLE_CUDASIM=1: kernels run as Python on the CPU (CI has no GPU).
_SIMULATOR = bool(getattr(config, "ENABLE_CUDASIM", 0))


class _IEEEMath(types.SimpleNamespace):
    """``math`` with IEEE results instead of exceptions, for Numba's CUDA simulator only.

    The simulator runs device functions as Python, where ``math.exp(1000.0)`` raises
    OverflowError and ``math.log(0.0)`` ValueError; on a GPU they give inf and -inf.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(_math, name)


def _ieee(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args)

    return wrapped


math: Any
if _SIMULATOR:
    math = _IEEEMath(
        exp=_ieee(np.exp),
        log=_ieee(np.log),
        sqrt=_ieee(np.sqrt),
        cosh=_ieee(np.cosh),
        sinh=_ieee(np.sinh),
    )
else:
    math = _math


def is_device_array(a: object) -> bool:
    """True for Numba/CuPy/PyTorch device arrays (the simulator's fake ones under the simulator)."""
    if _SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return isinstance(a, FakeCUDAArray)
    return bool(cuda.is_cuda_array(a))


def as_device(a: Any) -> Any:
    """A Numba device array as is; CuPy/PyTorch arrays wrapped (zero-copy)."""
    if _SIMULATOR or getattr(a, "__cuda_memory__", False):
        return a
    return cuda.as_cuda_array(a)


def _flat(a: Any, size: int, on_device: bool) -> Any:
    """A 1-D view on the device (reshape only when needed: each one costs a Python object)."""
    if on_device:
        return a if a.ndim == 1 else a.reshape(size)
    return cuda.to_device(a.reshape(size))


def launch(
    kernels: Mapping[str, Any],
    x: Any,
    arrays: Sequence[Any],
    params: Sequence[float],
    threads_per_block: int,
    out: Any = None,
) -> Any:
    """Run one elementwise kernel over x (and same-shaped ``arrays``); return x's kind and shape.

    ``kernels`` maps a dtype name (``"float16"``, ...) to the kernel for that storage type.
    ``out`` (a device array of x's shape and dtype) is written in place and returned: it saves the
    per-call allocation, which costs more than the kernel itself on large inputs.

    Raises:
        TypeError: x's dtype has no kernel.
        ValueError: an array or ``out`` does not have x's shape (and, for ``out``, dtype).
    """
    on_device = is_device_array(x)
    xd = as_device(x) if on_device else np.ascontiguousarray(x)
    dtype, shape = np.dtype(xd.dtype), tuple(xd.shape)
    kernel = kernels.get(dtype.name)
    if kernel is None:
        raise TypeError(f"unsupported dtype {dtype}: use float16, float32 or float64")
    devices = [is_device_array(a) for a in arrays]
    others = [
        as_device(a) if dev else np.ascontiguousarray(a, dtype=dtype)
        for a, dev in zip(arrays, devices, strict=True)
    ]
    for other in others:
        if tuple(other.shape) != shape:
            raise ValueError(f"shape {tuple(other.shape)} does not match x's shape {shape}")
    given = out
    if out is not None:
        out = as_device(out) if is_device_array(out) else None
        if out is None or tuple(out.shape) != shape or np.dtype(out.dtype) != dtype:
            raise ValueError(f"out must be a device array of shape {shape} and dtype {dtype}")
    # Parameters are passed in the arithmetic type: float16 data is computed in float32.
    scalar = np.float64 if dtype == np.float64 else np.float32
    args = [scalar(p) for p in params]
    size = int(np.prod(shape))
    if size == 0:
        return cuda.device_array(shape, dtype=dtype) if on_device else np.empty(shape, dtype)
    flat = [_flat(xd, size, on_device)]
    flat += [_flat(a, size, dev) for a, dev in zip(others, devices, strict=True)]
    result = out if out is not None else cuda.device_array(shape, dtype=dtype)
    blocks = (size + threads_per_block - 1) // threads_per_block
    kernel[blocks, threads_per_block](*flat, *args, _flat(result, size, True))
    if given is not None:
        return given
    return result if on_device else result.copy_to_host()

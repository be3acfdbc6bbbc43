"""Helpers for the generated Numba CUDA modules: the host launcher and the simulator's math."""

from __future__ import annotations

import math as _math
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numba import config, cuda, float32, float64

__all__ = [
    "as_device",
    "dw_div_f32",
    "dw_div_f64",
    "dw_exp_f32",
    "dw_exp_f64",
    "dw_mul_f32",
    "dw_mul_f64",
    "dw_prod_f32",
    "dw_prod_f64",
    "is_device_array",
    "launch",
    "math",
]

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


# exp(u) of a product u = scale * a*b*.../(c*...) of atoms (``ExpMonomial`` in the generator),
# with u carried as a float64 pair (hi, lo), hi + lo = u to twice float64's precision: the
# rounding of u, which exp amplifies by |u|, costs nothing. float32 device functions: float64
# products of float32 atoms are exact (lo stays 0), and exp is float32's of hi rounded to float32,
# times 1 + lo with lo the rest. float64: exact products by a fused multiply-add on a GPU (NVVM
# contracts a*b - p itself, which would break Dekker's splitting), by Dekker's splitting on the
# simulator (Python floats: no contraction, and no ``cuda.fma``).
_SPLIT = 134217729.0  # 2**27 + 1


@cuda.jit(device=True)
def _two_prod_dekker(a: Any, b: Any) -> Any:
    p = a * b
    c = _SPLIT * a
    ah = c - (c - a)
    d = _SPLIT * b
    bh = d - (d - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


if _SIMULATOR:
    _two_prod = _two_prod_dekker
else:  # pragma: no cover - a GPU only

    @cuda.jit(device=True)
    def _two_prod(a: Any, b: Any) -> Any:
        p = a * b
        return p, cuda.fma(a, b, -p)  # type: ignore[call-arg]  # numba stubs: fma(a, b, c)


@cuda.jit(device=True)
def dw_prod_f32(a: Any, b: Any) -> Any:
    """a*b of float32 scalars as a float64 pair (exact)."""
    return float64(a) * float64(b), float64(0.0)


@cuda.jit(device=True)
def dw_mul_f32(t: Any, b: Any) -> Any:
    """The pair t times a float32 b (rounded at 2**-53, far below float32's resolution)."""
    return t[0] * float64(b), t[1] * float64(b)


@cuda.jit(device=True)
def dw_div_f32(t: Any, d: Any) -> Any:
    """The pair t over a float32 d (rounded at 2**-53)."""
    return t[0] / float64(d), t[1] / float64(d)


@cuda.jit(device=True)
def dw_exp_f32(x: Any, scale: Any, t: Any) -> Any:
    """exp(scale * (hi + lo)) in float32: exp(h) * (1 + l) with h + l the pair rounded twice."""
    a = scale * (t[0] + t[1])
    h = float32(a)
    lo = float32(a - float64(h))
    e = math.exp(h)
    r = e + e * lo
    return r if r == r else e


@cuda.jit(device=True)
def dw_prod_f64(a: Any, b: Any) -> Any:
    """a*b of float64 scalars as a pair hi + lo, exact."""
    return _two_prod(a, b)


@cuda.jit(device=True)
def dw_mul_f64(t: Any, b: Any) -> Any:
    """The pair t times b."""
    p, e = _two_prod(t[0], b)
    return p, e + t[1] * b


@cuda.jit(device=True)
def dw_div_f64(t: Any, d: Any) -> Any:
    """The pair t over d (the remainder hi - q*d is exact)."""
    q = t[0] / d
    p, e = _two_prod(q, d)
    return q, (((t[0] - p) - e) + t[1]) / d


@cuda.jit(device=True)
def dw_exp_f64(x: Any, scale: Any, t: Any) -> Any:
    """exp(scale * (hi + lo)) = exp(hi) * (1 + lo) in float64; exp(hi) where that is not finite."""
    e = math.exp(scale * t[0])
    r = e + e * (scale * t[1])
    return r if r == r else e


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


def _broadcast_view(a: Any, shape: tuple[int, ...]) -> Any:
    """A view of device array ``a`` with ``shape`` (stride 0 along broadcast dimensions)."""
    if _SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return FakeCUDAArray(np.broadcast_to(a._ary, shape))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    pad = len(shape) - a.ndim
    strides = (0,) * pad + tuple(
        0 if n == 1 and m != 1 else s
        for n, m, s in zip(a.shape, shape[pad:], a.strides, strict=True)
    )
    return DeviceNDArray(shape, strides, a.dtype, stream=a.stream, gpu_data=a.gpu_data)


def _contiguous(a: Any, on_device: bool, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """``a`` (host or device, any strides) as a C-contiguous device array of ``shape``: as is
    when it already is one of that dtype, else a copy (on the device for device arrays)."""
    if not on_device:
        host = np.broadcast_to(np.asarray(a, dtype=dtype), shape)
        return cuda.to_device(np.ascontiguousarray(host))
    a = as_device(a)
    if tuple(a.shape) == shape and a.is_c_contiguous() and np.dtype(a.dtype) == dtype:
        return a
    copy = cuda.device_array(shape, dtype=dtype)
    if _SIMULATOR:
        copy._ary[...] = np.broadcast_to(a._ary, shape)
    else:
        copy[...] = _broadcast_view(a, shape)  # Numba's strided assignment kernel
    return copy


def _flat(a: Any, size: int) -> Any:
    """A 1-D view of a C-contiguous device array (no copy; skipped when already 1-D)."""
    return a if a.ndim == 1 else a.reshape(size)


def _shape_of(a: Any) -> tuple[int, ...]:
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


def _broadcast_shape(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            f"shapes {', '.join(map(str, shapes))} do not broadcast against each other"
        ) from None


def _check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Validate ``out``; True if it is a device array (else a NumPy array)."""
    on_device = is_device_array(out)
    if not on_device and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a device array or a NumPy array, got {type(out).__name__}")
    got = (_shape_of(out), np.dtype(out.dtype))
    if got != (shape, dtype):
        raise ValueError(
            f"out must have the broadcast shape {shape} and x's dtype {dtype},"
            f" got shape {got[0]} and dtype {got[1]}"
        )
    return on_device


def launch(
    kernels: Mapping[str, Any],
    array_kernels: Mapping[str, Any] | None,
    x: Any,
    arrays: Sequence[Any],
    params: Sequence[Any],
    threads_per_block: int,
    out: Any = None,
) -> Any:
    """Run one elementwise kernel over the broadcast of x, ``arrays`` (g) and the parameters.

    ``kernels`` maps a dtype name (``"float16"``, ...) to the kernel that takes the parameters as
    scalars, ``array_kernels`` to the one that takes them as arrays (used when a parameter is an
    array). Every array may have any strides and any shape that broadcasts: the common case
    (C-contiguous arrays of one shape, scalar parameters) runs on flat views with no copy, every
    other case on C-contiguous copies made on the device. The result has the broadcast shape and
    x's dtype, on the host if x is a NumPy array. ``out`` (a device or NumPy array of that shape
    and dtype, any strides) is filled and returned: it saves the per-call allocation.

    Raises:
        TypeError: x's dtype has no kernel; ``out`` is not an array.
        ValueError: the shapes do not broadcast; ``out`` has the wrong shape or dtype.
    """
    on_device = is_device_array(x)
    x = as_device(x) if on_device else np.asarray(x)
    dtype = np.dtype(x.dtype)
    kernel = kernels.get(dtype.name)
    if kernel is None:
        raise TypeError(f"unsupported dtype {dtype}: use float16, float32 or float64")
    # Parameters are passed in the arithmetic type: float16 data is computed in float32.
    scalar = np.dtype(np.float64 if dtype == np.float64 else np.float32)
    param_arrays = [np.ndim(p) > 0 or is_device_array(p) for p in params]
    shape = _broadcast_shape(
        [_shape_of(x), *map(_shape_of, arrays)]
        + [_shape_of(p) for p, is_array in zip(params, param_arrays, strict=True) if is_array]
    )
    out_on_device = _check_out(out, shape, dtype) if out is not None else on_device
    size = int(np.prod(shape))
    if size == 0:
        empty = cuda.device_array(shape, dtype=dtype) if on_device else np.empty(shape, dtype)
        return out if out is not None else empty
    devices = [is_device_array(a) for a in arrays]
    operands = [_contiguous(x, on_device, shape, dtype)]
    operands += [_contiguous(a, d, shape, dtype) for a, d in zip(arrays, devices, strict=True)]
    if any(param_arrays):
        assert array_kernels is not None, "a kernel without parameters got an array parameter"
        kernel = array_kernels[dtype.name]
        args = [_flat(_contiguous(p, is_device_array(p), shape, scalar), size) for p in params]
    else:
        args = [scalar.type(p) for p in params]
    direct = out is not None and out_on_device and as_device(out).is_c_contiguous()
    result = as_device(out) if direct else cuda.device_array(shape, dtype=dtype)
    blocks = (size + threads_per_block - 1) // threads_per_block
    flat = [_flat(a, size) for a in operands]
    kernel[blocks, threads_per_block](*flat, *args, _flat(result, size))
    if out is None:
        return result if on_device else result.copy_to_host()
    if not direct:
        if out_on_device:
            target = as_device(out)
            if _SIMULATOR:
                target._ary[...] = result._ary
            else:
                target[...] = result  # Numba's strided assignment kernel
        else:
            out[...] = result.copy_to_host()
    return out

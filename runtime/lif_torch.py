"""The fused multi-step LIF kernels (:mod:`surrogen.runtime.lif`) as a ``torch.autograd.Function``.

``lif(x, fused)`` runs a ``FusedLIF`` of ``surrogen.numba_cpu.<name>.fused_lif(...)`` on a CPU
tensor, or of ``surrogen.numba_cuda.<name>.fused_lif(...)`` on a CUDA tensor, and returns
``(spikes, v)`` whose gradients flow back to ``x`` through the fused BPTT kernel. No data is
copied: the kernels read and write tensors from PyTorch's allocator, as zero-copy NumPy views on
the CPU and through ``__cuda_array_interface__`` on the GPU (launched on PyTorch's current
stream). What the backward needs (the membrane before the reset, and the spikes) is saved per
call with ``ctx.save_for_backward``, so calls may be differentiated in any order.

Numba kernels are opaque to ``torch.compile``: ``lif`` is excluded from compilation
(``torch.compiler.disable``), so a compiled function that calls it runs it eagerly between two
compiled graphs (a graph break), and ``fullgraph=True`` raises.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from . import lif_cpu

__all__ = ["FusedLIFFunction", "FusedLIFLayer", "lif"]

_DTYPES = (torch.float32, torch.float64)


def _device_type(fused: Any) -> str:
    """``"cpu"`` for a Numba CPU FusedLIF, ``"cuda"`` for a Numba CUDA one."""
    if isinstance(fused, lif_cpu.FusedLIF):
        return "cpu"
    try:
        from . import lif_cuda
    except ImportError:  # numba-cuda is not installed: fused cannot be a CUDA FusedLIF
        pass
    else:
        if isinstance(fused, lif_cuda.FusedLIF):
            return "cuda"
    raise TypeError(
        "fused must be a FusedLIF of surrogen.numba_cpu.<name>.fused_lif(...) or "
        f"surrogen.numba_cuda.<name>.fused_lif(...), got {type(fused).__name__}"
    )


def _check(x: Any, fused: Any) -> str:
    """The device type x and fused share; TypeError/ValueError where they do not fit."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _DTYPES:
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    if x.ndim < 1:
        raise ValueError("x needs a leading time axis: shape (T, ...)")
    kind = _device_type(fused)
    if x.device.type != kind:
        backend = "numba_cpu" if x.device.type == "cpu" else "numba_cuda"
        raise TypeError(
            f"x is on {x.device} but fused is a Numba {kind.upper()} FusedLIF: use "
            f"surrogen.{backend}.<name>.fused_lif(...) for {x.device.type} tensors"
        )
    return kind


def _run(fused: Any, method: str, tensors: tuple[torch.Tensor, ...]) -> None:
    """``fused.<method>(*arrays)`` on the kernel's views of contiguous (T, N) tensors."""
    first = tensors[0]
    if first.device.type == "cpu":
        getattr(fused, method)(*(t.detach().numpy() for t in tensors))
        return
    from numba import config, cuda

    if getattr(config, "ENABLE_CUDASIM", 0):
        raise RuntimeError(
            "Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) cannot run kernels on CUDA tensors"
        )
    with cuda.gpus[first.device.index]:
        handle = torch.cuda.current_stream(first.device).cuda_stream
        stream = cuda.external_stream(handle) if handle else cuda.legacy_default_stream()
        arrays = (cuda.as_cuda_array(t.detach()) for t in tensors)
        getattr(fused, method)(*arrays, stream=stream)


class FusedLIFFunction(torch.autograd.Function):
    """``(spikes, v) = FusedLIFFunction.apply(x, fused)``: the fused LIF forward, with the fused
    BPTT kernel as its backward (``x`` gets the gradient; ``fused`` none). Prefer ``lif``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, fused: Any) -> tuple[torch.Tensor, torch.Tensor]:
        _check(x, fused)
        shape = x.shape
        x2 = x.detach().contiguous().view(shape[0], math.prod(shape[1:]))
        spikes, v, h = (torch.empty_like(x2) for _ in range(3))
        _run(fused, "forward_into", (x2, spikes, v, h))
        ctx.fused, ctx.shape = fused, shape
        ctx.save_for_backward(h, spikes)
        return spikes.view(shape), v.view(shape)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_spikes: torch.Tensor, grad_v: torch.Tensor) -> tuple[Any, None]:
        h, spikes = ctx.saved_tensors
        gs, gv = (g.to(h.dtype).contiguous().view(h.shape) for g in (grad_spikes, grad_v))
        grad_x = torch.empty_like(h)
        _run(ctx.fused, "backward_into", (h, spikes, gs, gv, grad_x))
        return grad_x.view(ctx.shape), None


@torch.compiler.disable(
    reason="surrogen's fused LIF runs Numba kernels, which torch.compile cannot trace"
)
def lif(x: torch.Tensor, fused: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A multi-step LIF layer on input currents ``x`` by a fused kernel, differentiable.

    Args:
      x: input currents of shape ``(T, ...)``, float32 or float64, on the CPU or a CUDA device.
      fused: ``surrogen.numba_cpu.<name>.fused_lif(config, *params)`` for a CPU tensor,
        ``surrogen.numba_cuda.<name>.fused_lif(config, *params)`` for a CUDA tensor.

    Returns:
      ``(spikes, v)``: the spikes and the membrane after the reset, of x's shape, dtype and
      device. ``backward`` through either gives x its BPTT gradient (surrogate gradient of
      ``fused``). The backward is not differentiable again (``once_differentiable``: with
      ``create_graph=True`` a second backward through it raises where the incoming gradients
      require grad; where they are constants the returned gradient is one too).

    Raises:
      TypeError: x is not a float32 or float64 tensor, fused is not a FusedLIF, or fused does not
        run on x's device.
      ValueError: x has no time axis.
    """
    spikes, v = FusedLIFFunction.apply(x, fused)
    return spikes, v


class FusedLIFLayer(torch.nn.Module):
    """``lif`` as a module that follows its input's device: ``fused_cpu`` runs on CPU tensors,
    ``fused_cuda`` on CUDA tensors (either may be None). It has no parameters or buffers.

    Raises:
      ValueError: both kernels are None, or their configs or parameters differ (the kernels
        compare only so; make both from the same surrogate).
      TypeError: (on call) the input's device has no kernel; as ``lif`` otherwise.
    """

    def __init__(self, fused_cpu: Any = None, fused_cuda: Any = None) -> None:
        super().__init__()
        if fused_cpu is None and fused_cuda is None:
            raise ValueError("FusedLIFLayer needs fused_cpu, fused_cuda or both")
        for kernel, kind in ((fused_cpu, "cpu"), (fused_cuda, "cuda")):
            if kernel is not None and _device_type(kernel) != kind:
                raise TypeError(f"fused_{kind} must be a Numba {kind.upper()} FusedLIF")
        both = fused_cpu is not None and fused_cuda is not None
        if both and (fused_cpu.config, fused_cpu.params) != (fused_cuda.config, fused_cuda.params):
            raise ValueError("fused_cpu and fused_cuda must have the same config and parameters")
        self.fused_cpu, self.fused_cuda = fused_cpu, fused_cuda

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kind = x.device.type if isinstance(x, torch.Tensor) else "cpu"
        fused = self.fused_cuda if kind == "cuda" else self.fused_cpu
        if fused is None:
            raise TypeError(f"this FusedLIFLayer has no kernel for {kind} tensors")
        return lif(x, fused)

    def extra_repr(self) -> str:
        fused = self.fused_cpu if self.fused_cpu is not None else self.fused_cuda
        pairs = (("cpu", self.fused_cpu), ("cuda", self.fused_cuda))
        devices = [kind for kind, f in pairs if f is not None]
        return f"{fused.config}, params={fused.params}, devices={devices}"

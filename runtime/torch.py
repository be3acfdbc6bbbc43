"""Helpers for the generated PyTorch modules: the exact Heaviside forward, dtype handling, and the
bookkeeping of their ``torch.autograd.Function`` classes (what is saved, which input gets a
gradient, broadcasting and its reduction).

The library presets (``surrogen.torch.presets.<library>``) use ``preset_spike`` and
``preset_count``: a library's forward convention with the preset's gradient as derivative.

Each generated function exists as two ``autograd.Function`` classes with the same forward and
backward: one also has a ``jvp`` rule (forward mode: ``torch.func.jvp``, ``jacfwd``, ``hessian``),
the other has none, because Dynamo refuses to trace a Function that defines ``jvp``. ``apply``
picks the first in eager code and the second while ``torch.compile`` traces.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = [
    "apply",
    "cotangents",
    "exp_monomial",
    "extra_repr",
    "finish",
    "float_dtype",
    "heaviside",
    "heaviside_half",
    "heaviside_strict",
    "param_tensor",
    "prepare",
    "preset_count",
    "preset_spike",
    "refuse_graded",
    "require_value",
    "save",
    "saved",
    "set_params",
    "step",
    "sum_to",
    "tangent",
]

# Each float type's signed integer view (its sign bit is the integer's) and +inf read as it.
_INF_BITS = {
    torch.float16: (torch.int16, 0x7C00),
    torch.bfloat16: (torch.int16, 0x7F80),
    torch.float32: (torch.int32, 0x7F80_0000),
    torch.float64: (torch.int64, 0x7FF0_0000_0000_0000),
}

Partial = Callable[..., torch.Tensor] | None


def float_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype every generated function returns: x's if floating, else the default dtype."""
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16/bfloat16 are computed in float32: their range overflows in intermediates."""
    return torch.float32 if dtype.itemsize < 4 else dtype


def _two_prod(a: torch.Tensor, b: torch.Tensor, split: float) -> tuple[torch.Tensor, torch.Tensor]:
    """a*b as p + e exactly (Dekker's product; eager PyTorch does not fuse a*b - p)."""
    p = a * b
    c = split * a
    ah = c - (c - a)
    d = split * b
    bh = d - (d - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def exp_monomial(scale: float, num: Sequence[Any], den: Sequence[Any]) -> torch.Tensor:
    """exp(scale * prod(num) / prod(den)) with the product's rounding errors compensated.

    ``scale`` is a power of two; ``num`` (at least one) and ``den`` are tensors, computed in
    their common dtype. The argument u is carried as hi + lo, every product and quotient adding
    its exact rounding error to lo, and exp(u) = e + e*lo with e = exp(hi): the rounding of u,
    which exp amplifies by |u| (80 ulp at u = -80), costs nothing. Where that is not finite (an
    overflowed split, exp(hi) = inf) the result is exp(hi).
    """
    tensors = [torch.as_tensor(a) for a in (*num, *den)]
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    num = [a.to(dtype) for a in tensors[: len(num)]]
    den = [a.to(dtype) for a in tensors[len(num) :]]
    split = 134217729.0 if dtype == torch.float64 else 4097.0  # 2**ceil(p/2) + 1 (p = 53, 24)
    hi, lo = num[0], torch.zeros((), dtype=dtype, device=num[0].device)
    for b in num[1:]:
        hi, err = _two_prod(hi, b, split)
        lo = err + lo * b
    for d in den:
        q = hi / d
        p, err = _two_prod(q, d, split)
        hi, lo = q, (((hi - p) - err) + lo) / d
    e = torch.exp(scale * hi)
    r = e + e * (scale * lo)
    return torch.where(r == r, r, e)


def prepare(x: torch.Tensor, *params: Any) -> tuple[Any, ...]:
    """``(dtype, x, *params)`` for a generated formula: the dtype to return, x in the dtype to
    compute in, and every parameter as a tensor of at least that precision (a number becomes a
    0-d tensor on x's device), so that a formula of the parameters alone (``1/alpha``) is a
    tensor operation in that precision too."""
    dtype = float_dtype(x)
    compute = _compute_dtype(dtype)
    x = x.to(compute)
    out: list[Any] = [dtype, x]
    for p in params:
        if isinstance(p, torch.Tensor):
            floating = p.is_floating_point()
            out.append(p.to(torch.promote_types(p.dtype, compute) if floating else compute))
        else:
            out.append(torch.tensor(p, dtype=compute, device=x.device))
    return tuple(out)


def _shape(x: torch.Tensor, params: Sequence[Any]) -> tuple[int, ...]:
    """The broadcast shape of x and the tensor parameters (``torch.broadcast_shapes`` imports
    SymPy on first use; this needs nothing)."""
    shapes = [tuple(x.shape), *(tuple(p.shape) for p in params if isinstance(p, torch.Tensor))]
    ndim = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + s for s in shapes], strict=True):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {shapes} of x and the parameters do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def finish(
    value: Any, dtype: torch.dtype, x: torch.Tensor, *params: Any, nan_in: bool = False
) -> torch.Tensor:
    """A formula's value in ``dtype`` with the broadcast shape of x and the parameters (a
    constant, or a formula without some parameter, is broadcast). With ``nan_in`` (a formula of
    x: origin, gradient, partials), NaN where x is NaN: a select on x < 0, or a constant, would
    give a number."""
    shape = _shape(x, params)
    if isinstance(value, torch.Tensor):
        # A Function must not return an input as is (origin(x) = x, grad = a parameter).
        value = value.to(dtype)
        value = value.clone() if any(value is a for a in (x, *params)) else value
    else:
        value = torch.full((), value, dtype=dtype, device=x.device)
    if nan_in and x.is_floating_point():
        value = torch.where(torch.isnan(x), x.to(dtype), value)
    return value if tuple(value.shape) == shape else value.expand(shape).contiguous()


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``1 if x >= 0 else 0`` in x's floating dtype; -0.0 gives 1 and NaN gives 0.

    Decided on the bits, not with ``x >= 0``: with ``torch.set_flush_denormal(True)`` (or code
    built to flush subnormals) ``-1e-45 >= 0`` is True and a negative input would spike. Read as
    a signed integer, a float is >= 0 from +0.0 to +inf (above: NaN), -0.0 is the most negative
    integer, and every other negative float, subnormals included, is below 0.
    """
    if not x.is_floating_point():
        return (x >= 0).to(float_dtype(x))
    int_type, inf = _INF_BITS[x.dtype]
    bits = x.view(int_type)
    return (((bits >= 0) & (bits <= inf)) | (bits == torch.iinfo(int_type).min)).to(x.dtype)


def heaviside_strict(x: torch.Tensor) -> torch.Tensor:
    """``1 if x > 0 else 0`` in x's floating dtype (snnTorch, Norse): 0 at x = +-0.0 and for
    NaN; a positive subnormal gives 1 (decided on the bits, as ``heaviside``)."""
    if not x.is_floating_point():
        return (x > 0).to(float_dtype(x))
    int_type, inf = _INF_BITS[x.dtype]
    bits = x.view(int_type)
    return ((bits > 0) & (bits <= inf)).to(x.dtype)


def heaviside_half(x: torch.Tensor) -> torch.Tensor:
    """``0.5 + 0.5 * sign(x)`` in x's floating dtype: 0.5 at x = +-0.0, NaN for NaN;
    subnormals count by their sign (decided on the bits, as ``heaviside``)."""
    if not x.is_floating_point():
        return (0.5 + 0.5 * torch.sign(x)).to(float_dtype(x))
    out = 0.5 * (heaviside(x) + heaviside_strict(x))
    return torch.where(torch.isnan(x), x, out)


_FORWARDS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ge": heaviside,
    "gt": heaviside_strict,
    "half": heaviside_half,
}


def step(x: torch.Tensor, *params: Any) -> torch.Tensor:
    """``heaviside(x)`` broadcast against the parameters (the shape of every other function)."""
    return finish(heaviside(x), float_dtype(x), x, *params)


def sum_to(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A gradient of the broadcast shape reduced to ``like``'s shape and dtype."""
    if value.shape != like.shape:
        value = value.sum_to_size(like.shape)
    return value.to(like.dtype)


# --- autograd.Function bookkeeping ---------------------------------------------------------------


def apply(
    fn: type[torch.autograd.Function],
    fn_jvp: type[torch.autograd.Function],
    names: Sequence[str],
    *args: Any,
) -> Any:
    """``fn_jvp.apply(*args)`` in eager code, ``fn.apply(*args)`` under ``torch.compile``.

    Raises TypeError for an ``x`` that is not a tensor or a parameter that is neither a real
    number nor a tensor.
    """
    if not isinstance(args[0], torch.Tensor):
        raise TypeError(f"{names[0]} must be a torch.Tensor, got {type(args[0]).__name__}")
    for name, p in zip(names[1:], args[1:], strict=True):
        if not isinstance(p, torch.Tensor | numbers.Real) or isinstance(p, bool):
            raise TypeError(f"{name} must be a real number or a tensor, got {type(p).__name__}")
    chosen = fn if torch.compiler.is_compiling() else fn_jvp
    return chosen.apply(*args)


def save(ctx: Any, inputs: Sequence[Any]) -> None:
    """Save the tensor inputs for backward and jvp, the numbers on ``ctx``: nothing else."""
    tensors = [a for a in inputs if isinstance(a, torch.Tensor)]
    ctx.save_for_backward(*tensors)
    ctx.save_for_forward(*tensors)
    ctx.numbers = tuple(None if isinstance(a, torch.Tensor) else a for a in inputs)


def saved(ctx: Any) -> tuple[Any, ...]:
    """The inputs saved by ``save``, in their order."""
    tensors = iter(ctx.saved_tensors)
    return tuple(next(tensors) if a is None else a for a in ctx.numbers)


def cotangents(
    ctx: Any, g: torch.Tensor, partials: Sequence[Partial], args: Sequence[Any]
) -> tuple[torch.Tensor | None, ...]:
    """``g * partials[i](*args)`` summed to ``args[i]``'s shape for each input that needs a
    gradient; None for the others and where the partial is None (no gradient by design)."""
    return tuple(
        None if d is None or not ctx.needs_input_grad[i] else sum_to(g * d(*args), args[i])
        for i, d in enumerate(partials)
    )


def tangent(
    tangents: Sequence[torch.Tensor | None], partials: Sequence[Partial], args: Sequence[Any]
) -> torch.Tensor:
    """The forward-mode tangent ``sum_i partials[i](*args) * tangents[i]`` of the output, in
    the output's shape and dtype (zeros when no input with an effect has a tangent)."""
    x, params = args[0], args[1:]
    total: torch.Tensor | None = None
    for d, t in zip(partials, tangents, strict=True):
        if d is not None and t is not None:
            term = d(*args) * t
            total = term if total is None else total + term
    return finish(0.0 if total is None else total, float_dtype(x), x, *params)


# --- nn.Module support ---------------------------------------------------------------------------


def set_params(module: torch.nn.Module, names: Sequence[str], values: Sequence[Any]) -> None:
    """A tensor parameter value becomes a buffer (it follows ``.to(device)`` and ``state_dict``),
    an ``nn.Parameter`` stays a parameter, a number a plain attribute (an int stays an int: an
    integer parameter; any other real number a float)."""
    for name, value in zip(names, values, strict=True):
        if isinstance(value, torch.nn.Parameter):
            setattr(module, name, value)
        elif isinstance(value, torch.Tensor):
            module.register_buffer(name, value)
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            setattr(module, name, int(value))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            setattr(module, name, float(value))
        else:
            raise TypeError(f"{name} must be a real number or a tensor, got {type(value).__name__}")


def extra_repr(module: torch.nn.Module, names: Sequence[str]) -> str:
    """``alpha=4.0, spiking=True``; a tensor shows its shape and dtype."""

    def show(value: Any) -> str:
        if isinstance(value, torch.Tensor):
            return f"tensor(shape={list(value.shape)}, dtype={value.dtype})"
        return repr(value)

    flags = ("spiking",) if hasattr(module, "spiking") else ()  # none for a gradient-only family
    items = [f"{n}={show(getattr(module, n))}" for n in (*names, *flags)]
    return ", ".join(items)


# --- library presets -----------------------------------------------------------------------------


def _check_x(x: Any) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")


def _preset_grad(
    grad: Callable[..., Any], g: torch.Tensor, x: torch.Tensor, params: Sequence[Any]
) -> torch.Tensor:
    """``g * grad(x, *params)`` summed to x's shape, in x's floating dtype; NaN where x is NaN
    (a constant branch of a piecewise gradient would otherwise hide it)."""
    value = torch.as_tensor(grad(x, *params), device=x.device).to(g.dtype)
    value = torch.where(torch.isnan(x), x.to(g.dtype), value)
    return sum_to(g * value, x)


class _PresetSpike(torch.autograd.Function):
    """A preset's spike: ``forward`` convention, ``g * grad(x, *params)`` backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(grad: Callable[..., Any], forward: str, x: torch.Tensor, *params: Any) -> Any:
        return finish(_FORWARDS[forward](x), float_dtype(x), x, *params)

    @staticmethod
    def setup_context(ctx: Any, inputs: Sequence[Any], output: Any) -> None:
        ctx.grad = inputs[0]
        save(ctx, inputs[2:])

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, *params = saved(ctx)
        dx = _preset_grad(ctx.grad, g, x, params) if ctx.needs_input_grad[2] else None
        return (None, None, dx, *[None] * len(params))


class _PresetSpikeJvp(_PresetSpike):
    """``_PresetSpike`` with a jvp rule, for forward mode in eager code."""

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> torch.Tensor:
        x, *params = saved(ctx)
        t = tangents[2]
        dtype = float_dtype(x)
        if t is None:
            return finish(0.0, dtype, x, *params)
        return finish(ctx.grad(x, *params) * t, dtype, x, *params)


def preset_spike(grad: Callable[..., Any], forward: str, x: Any, *params: Any) -> torch.Tensor:
    """A library preset's spike: its forward convention, and ``grad(x, *params)`` as derivative.

    ``forward`` is "ge" (``x >= 0``), "gt" (``x > 0``) or "half" (0.5 at 0, NaN for NaN). The
    spikes are in x's floating dtype, in the broadcast shape of x and the parameters (numbers or
    tensors, per-neuron values too). Reverse mode gives ``g * grad(x, *params)`` summed to x's
    shape and dtype (NaN for NaN), differentiable again through ``grad``; forward mode
    (``torch.func.jvp``) ``grad(x, *params) * tangent``. The parameters get no gradient.
    """
    _check_x(x)
    chosen = _PresetSpike if torch.compiler.is_compiling() else _PresetSpikeJvp
    return chosen.apply(grad, forward, x, *params)


def preset_graded(
    grad: Callable[..., Any], v: Any, threshold: Any, scale: Any, *params: Any
) -> torch.Tensor:
    """lava-dl's graded spike: ``v * (v >= threshold) / scale`` forward, in v's floating dtype,
    and ``g * grad(v - threshold, *params)`` backward (the derivative of the graded value itself
    is not used, as in lava-dl). The graded value is computed as lava-dl does and the step's
    surrogate carries the gradient (``step - step.detach()`` adds an exact 0), so forward mode,
    second derivatives and per-neuron parameters work as for ``preset_spike``.

    Raises:
      TypeError: ``scale`` is None (lava-dl's default): the graded value needs it.
    """
    if scale is None:
        raise TypeError("graded_spike=True needs scale: the graded spike is voltage / scale")
    step = preset_spike(grad, "ge", v - threshold, *params)
    graded = ((v >= threshold) * v / scale).to(step.dtype).detach()
    return graded + (step - step.detach())


class _PresetCount(torch.autograd.Function):
    """Rockpool's multi-spike forward, ``g * grad(v - threshold, *params)`` backward."""

    @staticmethod
    def forward(
        grad: Callable[..., Any], v: torch.Tensor, threshold: Any, max_spikes: Any, *params: Any
    ) -> Any:
        dtype = float_dtype(v)
        count = (v >= threshold) * torch.floor(v / threshold)  # NaN stays NaN, as Rockpool's
        return torch.clamp(count, max=max_spikes).to(dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: Sequence[Any], output: Any) -> None:
        ctx.grad = inputs[0]
        ctx.threshold = inputs[2]
        save(ctx, (inputs[1], *inputs[4:]))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        v, *params = saved(ctx)
        dv = None
        if ctx.needs_input_grad[1]:
            dv = _preset_grad(ctx.grad, g, v - ctx.threshold, params).to(v.dtype)
        return (None, dv, None, None, *[None] * len(params))


def preset_count(
    grad: Callable[..., Any], v: Any, threshold: Any, max_spikes: Any, *params: Any
) -> torch.Tensor:
    """Rockpool's spike count ``floor(v / threshold)`` where ``v >= threshold`` (else 0; NaN for
    NaN), at most ``max_spikes``, in v's floating dtype; its derivative in ``v`` is
    ``grad(v - threshold, *params)``. The threshold gets no gradient."""
    _check_x(v)
    if isinstance(threshold, torch.Tensor) and threshold.requires_grad:
        threshold = threshold.detach()
    return _PresetCount.apply(grad, v, threshold, torch.as_tensor(max_spikes), *params)


def param_tensor(p: Any, x: torch.Tensor) -> torch.Tensor:
    """A parameter as a tensor on x's device (a number in float64, kept exact), for a formula
    that compares it (``torch.lt`` takes no Python number)."""
    if isinstance(p, torch.Tensor):
        return p
    return torch.tensor(float(p), dtype=torch.float64, device=x.device)


def refuse_graded(graded_spike: Any) -> None:
    """lava-dl's graded spikes are another family (surrogen.torch.graded_exponential)."""
    if graded_spike:
        raise NotImplementedError(
            "graded_spike=True is lava-dl's graded spike (forward v/scale above the threshold,"
            " a one-sided exponential gradient): not reproduced by this preset; see"
            " surrogen.torch.graded_exponential for its gradient"
        )


def require_value(surrogate: str, name: str, value: Any, only: float, why: str) -> None:
    """Raise ValueError unless a library field the preset reproduces at one value has it."""
    if isinstance(value, torch.Tensor) or value != only:
        raise ValueError(f"{surrogate}: {name} must be {only!r}, got {value!r}: {why}")

"""Helpers for the generated JAX modules: dtypes, the exact Heaviside forwards, comparisons with 0
that XLA cannot flush, broadcasting against parameters, custom-derivative plumbing, parameter
checks, and the spike function of the library presets.

Semantics every generated function shares (and the Numba backends match):

* the result has the broadcast shape of ``x`` and every parameter, in ``x``'s floating dtype
  (float16 and bfloat16 are computed in float32 and rounded once);
* NaN in ``x`` gives NaN (``heaviside`` excepted: no spike for NaN);
* subnormal inputs are their exact values: a comparison with 0 is decided on the bits, so that
  XLA's flushing of subnormals (denormals-are-zero on the CPU) can neither make a negative input
  spike nor pick the other branch of a formula.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from . import params as _params

__all__ = [
    "Surrogate",
    "against",
    "check_param",
    "cotangent",
    "exp_monomial",
    "exp_monomial_shift",
    "float_dtype",
    "ge0",
    "gt0",
    "heaviside",
    "heaviside_half",
    "heaviside_strict",
    "le0",
    "lt0",
    "partial",
    "preset_spike",
    "result",
    "shifted_exp_monomial",
    "tangent",
    "upcast",
]

_INT = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}


def float_dtype(x: Any) -> Any:
    """The dtype every generated function returns: x's if floating (float16 and bfloat16 too)."""
    return jnp.result_type(x, float)


def upcast(x: Any) -> jax.Array:
    """float16/bfloat16 -> float32 for the arithmetic; their range overflows in intermediates."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype.itemsize < 4:
        return x.astype(jnp.float32)
    return x


def against(value: jax.Array, *params: Any) -> jax.Array:
    """``value`` broadcast against the parameters and data-dependent on them.

    A result that does not depend on a parameter (the Heaviside forward, a formula without it)
    would stay unbatched under ``vmap`` over that parameter while its derivative is batched; JAX
    then sums the cotangent over the batch twice (a gradient 4x too large for 4 slopes). Selecting
    through each array parameter makes the result batched and broadcast like it; the value is
    unchanged (both branches are ``value``). Python numbers have no shape and are never batched.
    """
    for p in params:
        if isinstance(p, int | float):
            continue
        p = jnp.asarray(p)
        value = jnp.where(p != p, value, value)
    return value


def result(value: Any, dtype: Any, x: jax.Array, *params: Any) -> jax.Array:
    """A formula's value as the generated function returns it: broadcast against ``x`` and the
    parameters, NaN where ``x`` is NaN, rounded once to ``dtype``."""
    value = jnp.asarray(value)
    value = jnp.where(jnp.isnan(x), x.astype(value.dtype), value)
    return against(value.astype(dtype), *params)


def _two_prod(a: jax.Array, b: jax.Array, split: float) -> tuple[jax.Array, jax.Array]:
    """a*b as p + e exactly (Dekker's product: the operands split into halves whose products
    are exact). XLA does not contract a*b - p into a fused multiply-add, which would break it."""
    p = a * b
    c = split * a
    ah = c - (c - a)
    d = split * b
    bh = d - (d - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _argument(scale: float, num: Sequence[Any], den: Sequence[Any]) -> tuple[jax.Array, jax.Array]:
    """scale * prod(num) / prod(den) as hi + lo: every product and quotient adds its exact
    rounding error to lo. Computed in the atoms' common dtype."""
    dtype = jnp.result_type(*num, *den)
    num = [jnp.asarray(a, dtype) for a in num]
    den = [jnp.asarray(a, dtype) for a in den]
    split = float(2 ** ((jnp.finfo(dtype).nmant + 2) // 2) + 1)
    hi, lo = num[0], jnp.zeros((), dtype)
    for b in num[1:]:
        hi, err = _two_prod(hi, b, split)
        lo = err + lo * b
    for d in den:
        q = hi / d
        p, err = _two_prod(q, d, split)
        hi, lo = q, (((hi - p) - err) + lo) / d
    # an infinite product (or an overflowed split) leaves lo NaN: hi alone is the value there
    return scale * hi, scale * jnp.where(jnp.isfinite(lo), lo, 0)


def _compensated(hi: jax.Array, lo: jax.Array) -> jax.Array:
    e = jnp.exp(hi)
    r = e + e * lo
    return jnp.where(r == r, r, e)


# ln(2) split so that SHIFT * _LN2_HI is exact and adds to a float32 u exactly (16 bits).
_LN2_HI, _LN2_LO = 0.693145751953125, 1.4286068203094172e-06
_SHIFT, _SHIFT_BELOW = 64, -64.0  # the generator's printers.SHIFT and -SHIFT_BELOW


def exp_monomial(scale: float, num: Sequence[Any], den: Sequence[Any]) -> jax.Array:
    """exp(scale * prod(num) / prod(den)) with the product's rounding errors compensated.

    ``scale`` is a power of two; ``num`` (at least one) and ``den`` are arrays or numbers,
    computed in their common dtype. The argument u is carried as hi + lo (``_argument``) and
    exp(u) = e + e*lo with e = exp(hi): the rounding of u, which exp amplifies by |u| (80 ulp at
    u = -80), costs nothing. Where hi is out of exp's range (or a split overflowed) the result
    is exp(hi) alone.
    """
    return _compensated(*_argument(scale, num, den))


def shifted_exp_monomial(scale: float, num: Sequence[Any], den: Sequence[Any]) -> jax.Array:
    """``exp_monomial`` times 2**64 where u < -64 (so that it stays normal where a factor
    c > 1 makes c*exp(u) normal); ``exp_monomial_shift`` is the factor 2**-64 to apply last.
    hi + 64*_LN2_HI is exact and 64*_LN2_LO goes into lo, so the shift costs no accuracy."""
    hi, lo = _argument(scale, num, den)
    low = hi < _SHIFT_BELOW
    hi = jnp.where(low, hi + _SHIFT * _LN2_HI, hi)
    lo = jnp.where(low, lo + _SHIFT * _LN2_LO, lo)
    # lo is now up to 1e-4: renormalised (exactly, |hi| > |lo|) for exp(hi)*(1 + lo)
    s = hi + lo
    return _compensated(s, (hi - s) + lo)


def exp_monomial_shift(scale: float, num: Sequence[Any], den: Sequence[Any]) -> jax.Array:
    """2**-64 where ``shifted_exp_monomial`` shifted (the same rounded u decides), else 1."""
    hi, _ = _argument(scale, num, den)
    return jnp.where(hi < _SHIFT_BELOW, 2.0**-_SHIFT, 1.0).astype(hi.dtype)


def _bits(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """x's bits as a signed integer, with the integers of -0.0 and of +inf.

    Range checks on the integer bits, not float comparisons: XLA on the CPU compiles with
    denormals-are-zero, and it rewrites bit tests of the sign into float comparisons that then
    see -1e-45 as -0.0.
    """
    itype = _INT[x.dtype.itemsize]
    bits = jax.lax.bitcast_convert_type(x, itype)
    inf = int(np.array(np.inf, dtype=x.dtype).view(np.dtype(itype)))
    return bits, jnp.asarray(np.iinfo(np.dtype(itype)).min, itype), jnp.asarray(inf, itype)


def ge0(x: Any) -> jax.Array:
    """``x >= 0`` exactly: True for -0.0 and +0.0, False for NaN and negative subnormals."""
    bits, minus_zero, inf = _bits(jnp.asarray(x))
    return ((bits >= 0) & (bits <= inf)) | (bits == minus_zero)


def gt0(x: Any) -> jax.Array:
    """``x > 0`` exactly: False for +-0.0 and NaN, True for positive subnormals."""
    bits, _, inf = _bits(jnp.asarray(x))
    return (bits > 0) & (bits <= inf)


def lt0(x: Any) -> jax.Array:
    """``x < 0`` exactly: False for +-0.0 and NaN, True for negative subnormals."""
    bits, minus_zero, inf = _bits(jnp.asarray(x))
    return (bits > minus_zero) & (bits <= minus_zero + inf)


def le0(x: Any) -> jax.Array:
    """``x <= 0`` exactly: True for +-0.0, False for NaN and positive subnormals."""
    bits, minus_zero, inf = _bits(jnp.asarray(x))
    return ((bits >= minus_zero) & (bits <= minus_zero + inf)) | (bits == 0)


def heaviside(x: Any, *params: Any) -> jax.Array:
    """``1 if x >= 0 else 0`` in x's floating dtype, broadcast against the parameters
    (``against``); -0.0 gives 1, NaN and negative subnormals give 0."""
    x = jnp.asarray(x)
    dtype = float_dtype(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return against((x >= 0).astype(dtype), *params)
    return against(ge0(x).astype(dtype), *params)


def heaviside_strict(x: Any) -> jax.Array:
    """``1 if x > 0 else 0`` in x's floating dtype (snnTorch, Norse and Spyx): 0 at x = +-0.0 and
    for NaN; a positive subnormal gives 1 (decided on the bits, as ``heaviside``)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return (x > 0).astype(float_dtype(x))
    return jnp.where(gt0(x), 1, 0).astype(x.dtype)


def heaviside_half(x: Any) -> jax.Array:
    """``0.5 + 0.5 * sign(x)`` in x's floating dtype (jaxsnn): 0.5 at x = +-0.0, NaN for NaN;
    subnormals count by their sign (decided on the bits, as ``heaviside``)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return (0.5 + 0.5 * jnp.sign(x)).astype(float_dtype(x))
    out = jnp.where(gt0(x), 1.0, jnp.where(lt0(x), 0.0, 0.5))
    return jnp.where(jnp.isnan(x), jnp.nan, out).astype(x.dtype)


_FORWARDS: dict[str, Callable[[Any], jax.Array]] = {
    "ge": heaviside,
    "gt": heaviside_strict,
    "half": heaviside_half,
}


def check_param(surrogate: str, name: str, value: Any, **rules: Any) -> None:
    """Raise ValueError for a Python number or NumPy array outside the parameter's domain.

    JAX arrays (traced or not) are not inspected: reading one would stop the computation to copy
    it to the host; the generated kernels give NaN for an invalid value instead.
    """
    if isinstance(value, jax.Array):
        return
    _params.check_param(surrogate, name, value, **rules)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def preset_spike(grad: Callable[..., jax.Array], forward: str, x: Any, *params: Any) -> jax.Array:
    """A library preset's spike: its forward convention, and ``grad(x, *params)`` as derivative.

    A ``custom_jvp``: forward mode (``jvp``, ``jacfwd``) and reverse mode (``grad``, ``vjp``)
    both work, and differentiate again through ``grad`` (its own custom_jvp). The parameters get
    no derivative. ``forward`` is "ge" (``x >= 0``), "gt" (``x > 0``) or "half" (0.5 at 0).
    """
    return _FORWARDS[forward](x)


@preset_spike.defjvp
def _preset_spike_jvp(
    grad: Callable[..., jax.Array], forward: str, primals: tuple[Any, ...], tangents: Any
) -> tuple[jax.Array, jax.Array]:
    x, *params = primals
    out = _FORWARDS[forward](x)
    return out, (grad(x, *params) * tangents[0]).astype(out.dtype)


class Surrogate:
    """Base class of the preset surrogate classes (braintools' ``Surrogate``).

    Subclass it with a ``surrogate_grad(x)`` (and optionally ``surrogate_fun(x)``) as in
    braintools: calling the object gives the step forward with ``surrogate_grad`` as the
    derivative (a straight-through construction, so higher derivatives are 0, as in braintools).
    The generated preset classes override ``__call__`` with a custom_jvp that also carries the
    surrogate gradient's own derivatives.
    """

    def __call__(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        out = heaviside(x)
        slope = jax.lax.stop_gradient(self.surrogate_grad(jax.lax.stop_gradient(x)))
        return out + ((x - jax.lax.stop_gradient(x)) * slope).astype(out.dtype)

    def surrogate_fun(self, x: Any) -> jax.Array:
        """The smooth function whose derivative is ``surrogate_grad``."""
        raise NotImplementedError

    def surrogate_grad(self, x: Any) -> jax.Array:
        """The surrogate gradient, used as the derivative of the spike."""
        raise NotImplementedError


def cotangent(ct: jax.Array, x: Any) -> jax.Array:
    """A cotangent of the broadcast shape summed down to x's shape, in x's floating dtype."""
    shape = jnp.shape(x)
    extra = ct.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and ct.shape[extra + i] != 1
    )
    if axes:
        ct = ct.sum(axis=axes).reshape(shape)
    return ct.astype(float_dtype(x))


def tangent(
    out: jax.Array,
    tangents: Sequence[Any],
    partials: Sequence[Callable[[], jax.Array] | None],
) -> jax.Array:
    """The tangent of a custom_jvp rule: sum of ``partials[i]() * tangents[i]``.

    Rules are defined with ``symbolic_zeros=True``: the partial derivative of an argument whose
    tangent is a symbolic zero (not differentiated) is never computed; ``None`` marks an argument
    that gets no derivative (a parameter of ``spike``, an integer parameter).
    """
    total = None
    for t, partial in zip(tangents, partials, strict=True):
        if partial is None or isinstance(t, SymbolicZero):
            continue
        if getattr(t, "dtype", None) == jax.dtypes.float0:
            continue  # an integer argument (a parameter passed as 4, not 4.0): no derivative
        term = partial() * upcast(t)  # float32 for half-precision tangents: one rounding
        total = term if total is None else total + term
    if total is None:
        return jnp.zeros_like(out)
    return jnp.broadcast_to(total, out.shape).astype(out.dtype)


def partial(fn: Callable[..., jax.Array], args: Sequence[Any], i: int) -> jax.Array:
    """d fn / d args[i] of an elementwise ``fn``, by forward-mode autodiff of its formula.

    For derivatives in a parameter beyond those the generator emits symbolically (orders above
    the gradient): each output element depends on one element of ``args[i]`` (broadcasting), so
    one jvp with a tangent of ones gives every partial derivative at once.
    """
    arg = jnp.asarray(args[i], dtype=float_dtype(args[i]))
    tangents = [jnp.zeros_like(jnp.asarray(a, dtype=float_dtype(a))) for a in args]
    tangents[i] = jnp.ones_like(arg)
    primals = [jnp.asarray(a, dtype=float_dtype(a)) for a in args]
    return jax.jvp(fn, tuple(primals), tuple(tangents))[1]

"""Helpers for the generated JAX modules: dtype handling, the exact Heaviside forwards, parameter
checks, and the spike function of the library presets."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from . import params as _params

__all__ = [
    "Surrogate",
    "along",
    "check_param",
    "float_dtype",
    "heaviside",
    "heaviside_half",
    "heaviside_strict",
    "preset_spike",
    "upcast",
]

_UINT = {2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}


def float_dtype(x: Any) -> Any:
    """The dtype every generated function returns: x's if floating (float16 and bfloat16 too)."""
    return jnp.result_type(x, float)


def upcast(x: Any) -> jax.Array:
    """float16/bfloat16 -> float32 for the arithmetic; their range overflows in intermediates."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype.itemsize < 4:
        return x.astype(jnp.float32)
    return x


def heaviside(x: Any) -> jax.Array:
    """``1 if x >= 0 else 0`` in x's floating dtype; -0.0 gives 1 and NaN gives 0.

    Decided on the bits, not with ``x >= 0``: XLA on the CPU flushes subnormals to zero in
    comparisons, so ``-1e-45 >= 0`` is True there and a negative input would spike.
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return (x >= 0).astype(float_dtype(x))
    nbits = 8 * x.dtype.itemsize
    bits = jax.lax.bitcast_convert_type(x, _UINT[x.dtype.itemsize])
    sign = bits >> (nbits - 1)
    magnitude = bits & ((1 << (nbits - 1)) - 1)
    negative = (sign == 1) & (magnitude != 0)
    return jnp.where(negative | jnp.isnan(x), 0, 1).astype(x.dtype)


def _sign_and_magnitude(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sign bit set, magnitude bits nonzero): comparisons would flush subnormals to 0 on XLA."""
    nbits = 8 * x.dtype.itemsize
    bits = jax.lax.bitcast_convert_type(x, _UINT[x.dtype.itemsize])
    return (bits >> (nbits - 1)) == 1, (bits & ((1 << (nbits - 1)) - 1)) != 0


def heaviside_strict(x: Any) -> jax.Array:
    """``1 if x > 0 else 0`` in x's floating dtype (snnTorch, Norse and Spyx): 0 at x = +-0.0 and
    for NaN; a positive subnormal gives 1 (decided on the bits, as ``heaviside``)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return (x > 0).astype(float_dtype(x))
    negative, nonzero = _sign_and_magnitude(x)
    return jnp.where(~negative & nonzero & ~jnp.isnan(x), 1, 0).astype(x.dtype)


def heaviside_half(x: Any) -> jax.Array:
    """``0.5 + 0.5 * sign(x)`` in x's floating dtype (jaxsnn): 0.5 at x = +-0.0, NaN for NaN;
    subnormals count by their sign (decided on the bits, as ``heaviside``)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return (0.5 + 0.5 * jnp.sign(x)).astype(float_dtype(x))
    negative, nonzero = _sign_and_magnitude(x)
    out = jnp.where(nonzero, jnp.where(negative, 0.0, 1.0), 0.5)
    return jnp.where(jnp.isnan(x), jnp.nan, out).astype(x.dtype)


_FORWARDS: dict[str, Callable[[Any], jax.Array]] = {
    "ge": heaviside,
    "gt": heaviside_strict,
    "half": heaviside_half,
}


def along(derivative: jax.Array, tangent: Any) -> Any:
    """``derivative * tangent``, or 0 where the tangent is float0: JAX's tangent of an integer
    argument (a parameter passed as ``4`` instead of ``4.0``), which supports no arithmetic."""
    if getattr(tangent, "dtype", None) == jax.dtypes.float0:
        return 0.0
    return derivative * tangent


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

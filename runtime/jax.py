"""Helpers for the generated JAX modules: dtype handling and the exact Heaviside forward."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["float_dtype", "heaviside", "upcast"]

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

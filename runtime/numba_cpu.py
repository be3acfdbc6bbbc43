"""Helpers for the generated Numba CPU modules: typed literals and a branch-free select."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["like", "select"]


def like(x: Any, value: float) -> Any:
    """``value`` as a scalar of x's type (pure-Python fallback of the overload below)."""
    return np.asarray(value, dtype=np.asarray(x).dtype)[()]


@overload(like, inline="always")
def _like(x, value):  # type: ignore[no-untyped-def]  # Numba compares this signature with the lambda's
    """In compiled code: a constant of x's float type, so float32 loops never promote to float64.

    Numba types bare float literals as float64 (numba/numba#4676); one ufunc body serves the
    float32 and float64 loops, so a literal cannot be written as ``float32(...)`` there.
    """
    if isinstance(x, types.Float):
        ty = x
        return lambda x, value: ty(value)
    return None


def select(cond: Any, a: Any, b: Any) -> Any:
    """``a if cond else b``; in compiled code one LLVM select (both sides computed, no branch).

    Piecewise formulas print as select chains: on mixed-sign inputs an if/else per element
    mispredicts about half the time (measured 5-10x slower than NumPy's branch-free maximum).
    This pure-Python body runs under NUMBA_DISABLE_JIT=1 (debugging, coverage).
    """
    return a if cond else b


@intrinsic
def _select(typingctx: Any, cond: Any, a: Any, b: Any) -> Any:
    """The LLVM select behind ``select`` in compiled code."""
    result = types.unliteral(a)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        c, x, y = args
        y = context.cast(builder, y, signature.args[2], result)
        x = context.cast(builder, x, signature.args[1], result)
        return builder.select(c, x, y)

    return result(cond, a, b), codegen


@overload(select, inline="always")
def _select_overload(cond, a, b):  # type: ignore[no-untyped-def]  # Numba compares this signature with the lambda's
    return lambda cond, a, b: _select(cond, a, b)  # type: ignore[call-arg]  # typingctx is implicit

"""Helpers for the generated Numba CPU modules: typed literals, a branch-free select, and the
quiet Heaviside step and NaN handling that keep NumPy from warning.

NumPy checks the floating-point flags after every ufunc call and warns ("invalid value
encountered") when one is set; an ordered comparison with NaN (``x >= 0`` in a vectorised loop)
sets the invalid flag. The generated kernels compare NaN only with ``==`` (quiet) and evaluate
their formulas at 0 in place of a NaN input, whose result is then NaN again.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.extending import intrinsic, overload

__all__ = [
    "finite",
    "is_finite",
    "like",
    "not_nan",
    "opaque",
    "output_strides_kept",
    "safe",
    "select",
    "step",
]


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


def step(x: Any) -> Any:
    """``1 if x >= 0 else 0`` in x's type: 1 for -0.0, 0 for NaN and negative subnormals, with
    no ordered comparison of x (quiet for NaN). Compiled code compiles this body through the
    overload below; under NUMBA_DISABLE_JIT=1 it runs as Python."""
    one, zero = like(x, 1.0), like(x, 0.0)
    nonnegative = (math.copysign(one, x) > zero) | (x == zero)
    return select((x == x) & nonnegative, one, zero)


@overload(step, inline="always")
def _step_overload(x: Any) -> Any:  # the impl's signature, annotations included (Numba compares)
    """Compiled code: the Python body itself, compiled for float types."""
    return step if isinstance(x, types.Float) else None


def opaque(x: Any) -> Any:
    """x; in compiled code behind ``llvm.arithmetic.fence``, which LLVM does not see through.

    Without it LLVM folds ``select(x == x, x, 0) < 0`` back into ``x < 0`` (the select only
    changes NaN, and an ordered comparison is false for NaN anyway) and vectorises it as a
    signalling compare: NumPy then warns "invalid value" for NaN input. Likewise it proves a
    guarded divisor ``select(c, u, 1)`` equal to ``u`` inside the branch where c holds, then
    if-converts the branch and divides by 0 where c does not. The fence is free at run time.
    """
    return x


@intrinsic
def _fence(typingctx: Any, x: Any) -> Any:
    """``llvm.arithmetic.fence`` of a float (an identity no optimisation looks through)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        (value,) = args
        fnty = ir.FunctionType(value.type, [value.type])
        fn = builder.module.declare_intrinsic("llvm.arithmetic.fence", [value.type], fnty)
        return builder.call(fn, [value])

    return x(x), codegen


@overload(opaque, inline="always")
def _opaque_overload(x: Any) -> Any:  # the impl's signature, annotations included
    def impl(x: Any) -> Any:  # annotated as ``opaque`` (Numba compares the signatures)
        return _fence(x)  # type: ignore[call-arg]  # typingctx is implicit

    return impl if isinstance(x, types.Float) else None


def not_nan(x: Any) -> Any:
    """x, or 0 where x is NaN: the formulas never compare a NaN (the caller returns NaN).
    Opaque to LLVM, which would otherwise compare x itself (see ``opaque``)."""
    return opaque(select(x == x, x, like(x, 0.0)))


@overload(not_nan, inline="always")
def _not_nan_overload(x: Any) -> Any:  # the impl's signature, annotations included
    return not_nan if isinstance(x, types.Float) else None


def finite(x: Any) -> Any:
    """x, or 0 where x is infinite (NaN stays NaN), opaque to LLVM: the argument of a periodic
    operation (``%``, sin, cos) that would raise the invalid flag at +-inf. The formula then
    returns NaN there itself (``is_finite``)."""
    return opaque(select(is_finite(x), x, like(x, 0.0)))


@overload(finite, inline="always")
def _finite_overload(x: Any) -> Any:  # the impl's signature, annotations included
    return finite if isinstance(x, types.Float) else None


def is_finite(x: Any) -> Any:
    """``abs(x) != inf`` (True for NaN): a quiet comparison, never an ordered one."""
    return abs(x) != like(x, math.inf)


@overload(is_finite, inline="always")
def _is_finite_overload(x: Any) -> Any:  # the impl's signature, annotations included
    return is_finite if isinstance(x, types.Float) else None


def safe(cond: Any, x: Any, value: Any) -> Any:
    """x where ``cond`` holds, else ``value``, opaque to LLVM: the operand of a division, log or
    root inside one branch of a formula, so that evaluating the branch where it is not taken
    (LLVM computes both sides of a select) never divides by 0 or takes the log of a negative."""
    return opaque(select(cond, x, value))


@overload(safe, inline="always")
def _safe_overload(cond: Any, x: Any, value: Any) -> Any:  # the impl's signature
    return safe if isinstance(x, types.Float) else None


@contextlib.contextmanager
def output_strides_kept() -> Iterator[None]:
    """Ufuncs built inside this block write ``out`` with its own stride in every case.

    Numba's ufunc loop (numba.np.ufunc.wrappers, 0.60-0.68) takes a fast path when every input
    is unit-strided and then stores the result as if ``out`` were too: ``f(x, out=buf[::2])``
    fills half the view and overwrites the elements between. Inside this block the fast path
    stores at ``index * out_step`` (the same address when out is unit-strided; LLVM versions the
    loop on the stride, so the contiguous case still vectorises). Only the ufuncs decorated in
    the block are affected: Numba's module is restored on exit.
    """
    from numba.np.ufunc import wrappers

    original = wrappers.build_fast_loop_body

    def build_fast_loop_body(  # type: ignore[no-untyped-def]  # Numba's own signature
        context, func, builder, arrays, out, offsets, store_offset, signature, ind, pyapi, env
    ):
        def load():  # type: ignore[no-untyped-def]
            return [ary.load_aligned(ind) for ary in arrays]

        def store(retval):  # type: ignore[no-untyped-def]
            with builder.if_else(out.is_unit_strided, likely=True) as (unit, strided):
                with unit:
                    out.store_aligned(retval, ind)
                with strided:
                    out.store_direct(retval, builder.mul(ind, out.step))

        return wrappers._build_ufunc_loop_body(
            load,
            store,
            context,
            func,
            builder,
            arrays,
            out,
            offsets,
            store_offset,
            signature,
            pyapi,
            env=env,
        )

    wrappers.build_fast_loop_body = build_fast_loop_body
    try:
        yield
    finally:
        wrappers.build_fast_loop_body = original

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
from numba.extending import intrinsic, overload, register_jitable

__all__ = [
    "dw_div",
    "dw_exp",
    "dw_mul",
    "dw_prod",
    "exp",
    "exp_for",
    "fast_loops",
    "finite",
    "is_finite",
    "like",
    "not_nan",
    "opaque",
    "pow_for",
    "safe",
    "select",
    "step",
    "wide",
    "wide_div",
    "wide_exp",
    "wide_mul",
    "wide_prod",
]


# The helpers' overloads are compiled once per argument types and inlined by LLVM (forceinline),
# not in Numba's IR (inline="always"), which re-ran Numba's pipeline at every call site of every
# kernel: compiling all generated modules without a cache took 206 s that way, 88 s this way.
# The loops vectorise as before (the same speed, within this shared machine's noise).
def like(x: Any, value: float) -> Any:
    """``value`` as a scalar of x's type (pure-Python fallback of the overload below)."""
    return np.asarray(value, dtype=np.asarray(x).dtype)[()]


@overload(like, jit_options={"forceinline": True})
def _like(x, value):  # type: ignore[no-untyped-def]  # Numba compares this signature with the lambda's
    """In compiled code: a constant of x's float type, so float32 loops never promote to float64.

    Numba types bare float literals as float64 (numba/numba#4676); one ufunc body serves the
    float32 and float64 loops, so a literal cannot be written as ``float32(...)`` there.
    """
    if isinstance(x, types.Float):
        ty = x
        return lambda x, value: ty(value)
    return None


def wide(x: Any) -> Any:
    """x as a float64 (pure-Python fallback of the overload below).

    The float32 loops evaluate their formulas in float64 and round once, at the end, to float32
    (``like(_x, result)``): every float32 rounding inside a formula (the 1 + e, its square and
    the quotient of a sigmoid's gradient, a sum that cancels near a sign change) costs up to an
    ulp more, and the float64 evaluation of float32 inputs keeps the result within about half
    an ulp where float32 evaluation reached 3-4 (or hundreds at a cancellation). On the CPU
    float64 arithmetic costs little more than float32; the exponential is float64 either way.
    """
    return np.float64(x)


@overload(wide, jit_options={"forceinline": True})
def _wide_overload(x):  # type: ignore[no-untyped-def]  # Numba compares this signature with the lambda's
    if isinstance(x, types.Float):
        return lambda x: types.float64(x)
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


@overload(select, jit_options={"forceinline": True})
def _select_overload(cond, a, b):  # type: ignore[no-untyped-def]  # Numba compares this signature with the lambda's
    return lambda cond, a, b: _select(cond, a, b)  # type: ignore[call-arg]  # typingctx is implicit


def step(x: Any) -> Any:
    """``1 if x >= 0 else 0`` in x's type: 1 for -0.0, 0 for NaN and negative subnormals, with
    no ordered comparison of x (quiet for NaN). Compiled code compiles this body through the
    overload below; under NUMBA_DISABLE_JIT=1 it runs as Python."""
    one, zero = like(x, 1.0), like(x, 0.0)
    nonnegative = (math.copysign(one, x) > zero) | (x == zero)
    return select((x == x) & nonnegative, one, zero)


@overload(step, jit_options={"forceinline": True})
def _step_overload(x: Any) -> Any:  # the impl's signature, annotations included (Numba compares)
    """Compiled code: the Python body itself, compiled for float types."""
    return step if isinstance(x, types.Float) else None


def _flags_kept() -> bool:
    """Make the C library's ``feholdexcept`` and ``fesetenv`` callable from compiled code (the
    ufunc loops of ``fast_loops`` save and restore the floating-point flags with them); False
    where the C library has none (then ``opaque`` keeps LLVM from raising flags instead)."""
    import ctypes
    import ctypes.util

    import llvmlite.binding as llvm  # type: ignore[import-untyped]

    name = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name)
        for symbol in ("feholdexcept", "fesetenv"):
            if llvm.address_of_symbol(symbol) is None:
                llvm.add_symbol(symbol, ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value)
    except (OSError, AttributeError, TypeError):
        return False
    return True


FLAGS_KEPT = _flags_kept()


def opaque(x: Any) -> Any:
    """x. Where the ufunc loops cannot restore the floating-point flags (``FLAGS_KEPT`` False),
    compiled code puts x behind ``llvm.arithmetic.fence``, which LLVM does not see through.

    Without it LLVM folds ``select(x == x, x, 0) < 0`` back into ``x < 0`` (the select only
    changes NaN, and an ordered comparison is false for NaN anyway) and vectorises it as a
    signalling compare, which sets the invalid flag for NaN input; likewise it proves a guarded
    divisor ``select(c, u, 1)`` equal to ``u`` inside the branch where c holds, then if-converts
    the branch and divides by 0 where c does not. Both are right in value (the lanes are not
    selected) and only set flags, which NumPy reports as warnings. But the fence also stops LLVM
    from vectorising the loop (measured: 5x slower on an exp-based kernel), so where the loops
    restore the flags (``fast_loops``) x is left as it is.
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


@overload(opaque, jit_options={"forceinline": True})
def _opaque_overload(x: Any) -> Any:  # the impl's signature, annotations included
    def fenced(x: Any) -> Any:  # annotated as ``opaque`` (Numba compares the signatures)
        return _fence(x)  # type: ignore[call-arg]  # typingctx is implicit

    if not isinstance(x, types.Float):
        return None
    return opaque if FLAGS_KEPT else fenced


def not_nan(x: Any) -> Any:
    """x, or 0 where x is NaN: the formulas never compare a NaN (the caller returns NaN).
    Opaque to LLVM, which would otherwise compare x itself (see ``opaque``)."""
    return opaque(select(x == x, x, like(x, 0.0)))


@overload(not_nan, jit_options={"forceinline": True})
def _not_nan_overload(x: Any) -> Any:  # the impl's signature, annotations included
    return not_nan if isinstance(x, types.Float) else None


def finite(x: Any) -> Any:
    """x, or 0 where x is infinite (NaN stays NaN), opaque to LLVM: the argument of a periodic
    operation (``%``, sin, cos) that would raise the invalid flag at +-inf. The formula then
    returns NaN there itself (``is_finite``)."""
    return opaque(select(is_finite(x), x, like(x, 0.0)))


@overload(finite, jit_options={"forceinline": True})
def _finite_overload(x: Any) -> Any:  # the impl's signature, annotations included
    return finite if isinstance(x, types.Float) else None


def is_finite(x: Any) -> Any:
    """``abs(x) != inf`` (True for NaN): a quiet comparison, never an ordered one."""
    return abs(x) != like(x, math.inf)


@overload(is_finite, jit_options={"forceinline": True})
def _is_finite_overload(x: Any) -> Any:  # the impl's signature, annotations included
    return is_finite if isinstance(x, types.Float) else None


def safe(cond: Any, x: Any, value: Any) -> Any:
    """x where ``cond`` holds, else ``value``, opaque to LLVM: the operand of a division, log or
    root inside one branch of a formula, so that evaluating the branch where it is not taken
    (LLVM computes both sides of a select) never divides by 0 or takes the log of a negative."""
    return opaque(select(cond, x, value))


@overload(safe, jit_options={"forceinline": True})
def _safe_overload(cond: Any, x: Any, value: Any) -> Any:  # the impl's signature
    return safe if isinstance(x, types.Float) else None


@intrinsic
def _f64_from_bits(typingctx: Any, bits: Any) -> Any:
    """The float64 whose IEEE bits are the int64 ``bits`` (an LLVM bitcast, which vectorises)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_f64(typingctx: Any, value: Any) -> Any:
    """The int64 whose bits are the float64 ``value``'s (an LLVM bitcast, which vectorises)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


# exp(r) on |r| <= ln(2)/2 by its Taylor polynomial of degree 10: truncation below 2e-13 relative.
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10 = (1.0 / math.factorial(k) for k in range(2, 11))
_LOG2E, _LN2 = 1.4426950408889634, 0.6931471805599453
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding and subtracting it rounds a float64 to an integer
# exp64's: Taylor coefficients to degree 12 (truncation 2e-16 on |r| <= ln(2)/2), and ln 2 in two
# parts, the first with 32 significant bits (its product with any k below 2**21 is exact).
_D10, _D11, _D12 = (1.0 / math.factorial(k) for k in range(10, 13))
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
# The bits of _ROUND; those of _ROUND + k are _ROUND_BITS + k for |k| < 2**51.
_ROUND_BITS = 0x4338000000000000


def exp(x: Any) -> Any:
    """``math.exp`` (pure-Python fallback of the overload below, under NUMBA_DISABLE_JIT=1)."""
    return math.exp(x)


def _exp32(x: Any) -> Any:
    """exp of a float32, computed in float64 and rounded once to float32 (``_exp32_of``)."""
    return select(x == x, _exp32_of(np.float64(x)), x)


@register_jitable
def _exp32_of(a: Any) -> Any:
    """exp of a float64 rounded once to float32 (NaN gives NaN only through the callers' select).

    ``math.exp`` compiles to a libm call that LLVM cannot vectorise (no vector maths library in
    this llvmlite), so every exp-based kernel ran at a quarter of the memory bandwidth. This is
    arithmetic only (range reduction a = k ln2 + r, a polynomial, and 2**k from its bits), so a
    loop over it vectorises. In float64 the reduction and the polynomial err by about 1e-13
    relative, 2**29 times below float32's rounding: the float32 result is the correctly rounded
    exp except where exp lies within 1e-13 of a rounding boundary (overflow and underflow,
    subnormals included, round as float32(exp(a)) does). A vectorised loop's comparison of NaN
    sets the invalid flag, which the loops of ``fast_loops`` drop.
    """
    a = select(a > -110.0, a, -110.0)  # exp(-110) rounds to float32 0 (and NaN becomes -110)
    a = select(a < 100.0, a, 100.0)  # exp(100) rounds to float32 inf
    k = (a * _LOG2E + _ROUND) - _ROUND
    r = a - k * _LN2
    h = (((_C10 * r + _C9) * r + _C8) * r + _C7) * r + _C6
    h = ((((h * r + _C5) * r + _C4) * r + _C3) * r + _C2) * r * r
    p = 1.0 + (r + h)  # 1 + r + r**2 (1/2 + r/6 + ...), the small terms summed first
    return np.float32(p * _f64_from_bits((np.int64(k) + 1023) << 52))  # type: ignore[call-arg]


@register_jitable(forceinline=True)  # LLVM's own heuristics keep two calls out of line: scalar
def _exp64_of(a: Any) -> Any:
    """exp of a float64 to about 3e-16 relative (a two-part ln 2 and a degree-12 polynomial),
    overflow to inf, underflow through the subnormals to 0, and NaN included: the exponential of the
    float32 loops, which evaluate in float64 (see ``wide``) and round once to float32, 2**29
    times coarser. 2**k is built as two factors, each a normal float64, so k reaches -1558.
    """
    a = select(a < -1080.0, -1080.0, a)  # exp(-1080) underflows to 0; NaN stays NaN (so does
    a = select(a > 710.0, 710.0, a)  # the result, without a select, which kept loops scalar)
    t = a * _LOG2E + _ROUND
    k = t - _ROUND
    r = (a - k * _LN2_HI) - k * _LN2_LO  # k * _LN2_HI exact: the reduction adds ~1e-16
    h = (((_D12 * r + _D11) * r + _D10) * r + _C9) * r + _C8
    h = ((((((h * r + _C7) * r + _C6) * r + _C5) * r + _C4) * r + _C3) * r + _C2) * r * r
    p = 1.0 + (r + h)
    # The integers k and k1 = k/2 rounded are read from the bits of the rounding sums (AVX2 has
    # no vector conversion of float64 to int64, and an emulated one keeps the loop scalar).
    k_bits = _bits_of_f64(t) - _ROUND_BITS  # type: ignore[call-arg]
    k1 = _bits_of_f64(k * 0.5 + _ROUND) - _ROUND_BITS
    p = p * _f64_from_bits((k1 + 1023) << 52)
    return p * _f64_from_bits((k_bits - k1 + 1023) << 52)


def exp_for(x: Any, u: Any) -> Any:
    """exp(u) inside a kernel for inputs of x's type (pure-Python fallback: ``math.exp``).

    u is float64 in both loops (see ``wide``). The float32 loop gets ``_exp64_of``, plain
    arithmetic that LLVM vectorises (``math.exp`` compiles to a libm call, which keeps a loop
    scalar: this llvmlite has no vector maths library) and is accurate far beyond float32's
    resolution; the float64 loop keeps libm's exp (within 0.5-1 ulp of float64, which its
    accuracy targets are measured with).
    """
    return math.exp(u)


def _exp_for32(x: Any, u: Any) -> Any:
    return _exp64_of(u)


def _exp_for64(x: Any, u: Any) -> Any:
    return math.exp(u)


@overload(exp_for, jit_options={"forceinline": True})
def _exp_for_overload(x: Any, u: Any) -> Any:
    """Not inlined in Numba's IR (LLVM inlines it): one call to the caller's typing."""
    if x == types.float32:
        return _exp_for32
    return _exp_for64 if isinstance(x, types.Float) else None


@overload(exp, jit_options={"forceinline": True})
def _exp_overload(x: Any) -> Any:  # the impl's signature, annotations included (Numba compares)
    """float32: the vectorisable ``_exp32``; float64 keeps libm's exp (correctly rounded to
    within its 0.5-1 ulp, which the float64 accuracy targets are measured with).

    Not inlined in Numba's IR (LLVM inlines it): to the caller's typing it is one call from x's
    type to x's type, and its float64 inside stays its own.
    """
    if x == types.float32:
        return _exp32
    return exp if isinstance(x, types.Float) else None


# exp(u) of a product u = scale * a*b*.../(c*...) of atoms (``ExpMonomial`` in the generator):
# u is carried as a float64 pair (hi, lo) with hi + lo = u to twice float64's precision, so that
# the rounding of u, which exp amplifies by |u|, costs nothing. For float32 atoms the float64
# product is exact and lo stays 0 (a quotient, and products of three or more, round at 2**-53,
# far below float32's resolution); float64 atoms use Dekker's exact product. Numba compiles
# without fused multiply-adds (no fastmath), which would break Dekker's splitting.
_SPLIT = 134217729.0  # 2**27 + 1: splits a float64 into two halves whose products are exact


@register_jitable(inline="always")
def _two_prod(a: Any, b: Any) -> Any:
    p = a * b
    c = _SPLIT * a
    ah = c - (c - a)
    d = _SPLIT * b
    bh = d - (d - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def dw_prod(a: Any, b: Any) -> Any:
    """a*b as a float64 pair (hi, lo), hi + lo exact."""
    return _two_prod(np.float64(a), np.float64(b))


def dw_mul(t: Any, b: Any) -> Any:
    """The pair t times b."""
    p, e = _two_prod(t[0], np.float64(b))
    return p, e + t[1] * np.float64(b)


def dw_div(t: Any, d: Any) -> Any:
    """The pair t divided by d (the remainder h - q*d is exact)."""
    d = np.float64(d)
    q = t[0] / d
    p, e = _two_prod(q, d)
    return q, (((t[0] - p) - e) + t[1]) / d


def dw_exp(x: Any, scale: Any, t: Any) -> Any:
    """exp(scale * (hi + lo)) in x's type; ``scale`` a power of two (exact). float32: the
    float64 exp of hi + lo rounded once; float64: exp(hi) * (1 + lo), or exp(hi) where that is
    not finite (an overflowed split, exp(hi) = inf). Pure Python (NUMBA_DISABLE_JIT=1) here,
    the overload's versions in compiled code."""
    with np.errstate(all="ignore"):
        if np.asarray(x).dtype == np.float32:
            return np.float32(np.exp(scale * (t[0] + t[1])))
        e = np.exp(np.float64(scale * t[0]))
        r = e + e * (scale * t[1])
        return r if r == r else e


def _dw_exp64(x: Any, scale: Any, t: Any) -> Any:
    e = math.exp(scale * t[0])
    r = e + e * (scale * t[1])
    return select(r == r, r, e)


def _dw_exp32(x: Any, scale: Any, t: Any) -> Any:
    a = scale * (t[0] + t[1])
    return select(a == a, _exp32_of(a), np.float32(a))


def _dw_prod32(a: Any, b: Any) -> Any:
    return np.float64(a) * np.float64(b), 0.0


def _dw_mul32(t: Any, b: Any) -> Any:
    return t[0] * np.float64(b), t[1] * np.float64(b)


def _dw_div32(t: Any, d: Any) -> Any:
    return t[0] / np.float64(d), t[1] / np.float64(d)


# Overloads: the float32 versions where every operand is float32 (rounding at 2**-53 is exact
# enough), Dekker's otherwise. Each returns a function with the generic one's signature. Not
# inlined in Numba's IR (LLVM inlines them): to the caller's typing each is one call, and the
# float64 inside a float32 kernel's exponential stays the helper's own (as in ``_exp32``).
@overload(dw_prod, jit_options={"forceinline": True})
def _dw_prod_overload(a: Any, b: Any) -> Any:
    if a == types.float32 and b == types.float32:
        return _dw_prod32
    return dw_prod if isinstance(a, types.Float) and isinstance(b, types.Float) else None


@overload(dw_mul, jit_options={"forceinline": True})
def _dw_mul_overload(t: Any, b: Any) -> Any:
    if b == types.float32:
        return _dw_mul32
    return dw_mul if isinstance(b, types.Float) else None


@overload(dw_div, jit_options={"forceinline": True})
def _dw_div_overload(t: Any, d: Any) -> Any:
    if d == types.float32:
        return _dw_div32
    return dw_div if isinstance(d, types.Float) else None


@overload(dw_exp, jit_options={"forceinline": True})
def _dw_exp_overload(x: Any, scale: Any, t: Any) -> Any:
    if x == types.float32:
        return _dw_exp32
    return _dw_exp64 if isinstance(x, types.Float) else None


# The same in the widened kernels (see ``wide``), whose atoms are float64 in both loops: the
# first argument ``x`` is the kernel's input, whose type picks the version. For float32 input
# the atoms are float32 values, whose float64 products are exact, and the exponential is the
# vectorisable ``_exp64_of``, left in float64 for the kernel to round once at its end.
def wide_prod(x: Any, a: Any, b: Any) -> Any:
    """a*b as a float64 pair (hi, lo), hi + lo exact."""
    return dw_prod(a, b)


def wide_mul(x: Any, t: Any, b: Any) -> Any:
    """The pair t times b."""
    return dw_mul(t, b)


def wide_div(x: Any, t: Any, d: Any) -> Any:
    """The pair t divided by d."""
    return dw_div(t, d)


def wide_exp(x: Any, scale: Any, t: Any) -> Any:
    """exp(scale * (hi + lo)) in float64, for x's loop."""
    with np.errstate(all="ignore"):
        e = np.exp(np.float64(scale * t[0]))
        r = e + e * (scale * t[1])
        return r if r == r else e


def _wide_prod32(x: Any, a: Any, b: Any) -> Any:
    return a * b, 0.0


def _wide_mul32(x: Any, t: Any, b: Any) -> Any:
    return t[0] * b, t[1] * b


def _wide_div32(x: Any, t: Any, d: Any) -> Any:
    return t[0] / d, t[1] / d


def _wide_exp32(x: Any, scale: Any, t: Any) -> Any:
    return _exp64_of(scale * (t[0] + t[1]))


def _wide_prod64(x: Any, a: Any, b: Any) -> Any:
    return dw_prod(a, b)


def _wide_mul64(x: Any, t: Any, b: Any) -> Any:
    return dw_mul(t, b)


def _wide_div64(x: Any, t: Any, d: Any) -> Any:
    return dw_div(t, d)


def _by_input(x: Any, f32: Any, f64: Any) -> Any:
    if x == types.float32:
        return f32
    return f64 if isinstance(x, types.Float) else None


@overload(wide_prod, jit_options={"forceinline": True})
def _wide_prod_overload(x: Any, a: Any, b: Any) -> Any:
    return _by_input(x, _wide_prod32, _wide_prod64)


@overload(wide_mul, jit_options={"forceinline": True})
def _wide_mul_overload(x: Any, t: Any, b: Any) -> Any:
    return _by_input(x, _wide_mul32, _wide_mul64)


@overload(wide_div, jit_options={"forceinline": True})
def _wide_div_overload(x: Any, t: Any, d: Any) -> Any:
    return _by_input(x, _wide_div32, _wide_div64)


@overload(wide_exp, jit_options={"forceinline": True})
def _wide_exp_overload(x: Any, scale: Any, t: Any) -> Any:
    return _by_input(x, _wide_exp32, _dw_exp64)


def pow_for(x: Any, a: Any, b: Any) -> Any:
    """a**b inside a widened kernel for inputs of x's type (pure Python: ``a ** b``).

    float32 input: exp(b log|a|) from ``_log64_of`` and ``_exp64_of`` with C's special cases,
    all arithmetic, so that the loop vectorises (libm's float64 pow, a scalar call, took 5x
    powf's time); accurate far beyond float32. float64 input: ``a ** b`` (libm's pow: exp(b log
    a) in float64 would amplify log's rounding by |b log a|).
    """
    return a**b


# log(m) = 2*atanh(s), s = (m - 1)/(m + 1), |s| <= 0.172 for m in [sqrt(1/2), sqrt(2)): the odd
# series 2*(s + s**3/3 + ... + s**21/21), truncated below 1e-17 relative (s**2 <= 0.0295).
_ATANH = tuple(1.0 / (2 * k + 1) for k in range(1, 11))
_A1, _A2, _A3, _A4, _A5, _A6, _A7, _A8, _A9, _A10 = _ATANH
_SQRT2 = 1.4142135623730951
_TWO52_BITS = 0x4330000000000000  # the bits of 2**52: those of 2**52 + n are _TWO52_BITS + n
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_TINY = 2.2250738585072014e-308  # the smallest normal float64


@register_jitable(forceinline=True)
def _log64_of(a: Any) -> Any:
    """log of a float64 a >= 0 to about 4e-16 absolute plus relative: -inf at 0, inf at inf, NaN
    for NaN; subnormals scaled by 2**54 first. Arithmetic and bit operations only, so that a loop
    over it vectorises (libm's log is a call LLVM keeps scalar): a = 2**e * m, m in
    [sqrt(1/2), sqrt(2)), log a = e ln 2 + 2 atanh((m - 1)/(m + 1)). The exponent becomes a float
    through the bits of 2**52 + e (AVX2 has no vector conversion of int64 to float64)."""
    sub = a < _TINY
    scaled = select(sub, a * 18014398509481984.0, a)  # 2**54
    bits: Any = _bits_of_f64(scaled)  # type: ignore[call-arg]
    biased = (bits >> 52) & 0x7FF
    e = _f64_from_bits(_TWO52_BITS + biased) - 4503599627370496.0
    e = e - select(sub, 1077.0, 1023.0)  # 1023 + 54 for the scaled subnormals
    m = _f64_from_bits((bits & _MANTISSA) | _ONE_BITS)
    big = m > _SQRT2
    m = select(big, m * 0.5, m)
    e = select(big, e + 1.0, e)
    f = m - 1.0  # exact (Sterbenz)
    t = f / (2.0 + f)
    t2 = t * t
    q = (
        (
            (
                ((((((_A10 * t2 + _A9) * t2 + _A8) * t2 + _A7) * t2 + _A6) * t2 + _A5) * t2 + _A4)
                * t2
                + _A3
            )
            * t2
            + _A2
        )
        * t2
        + _A1
    ) * t2
    log_m = 2.0 * t + 2.0 * t * q
    value = (e * _LN2_HI + log_m) + e * _LN2_LO  # e * _LN2_HI exact
    value = select(a == 0.0, -np.inf, value)
    value = select(a == np.inf, np.inf, value)
    return select(a == a, value, a)


def _pow_for32(x: Any, a: Any, b: Any) -> Any:
    # exp(b log|a|), then the cases C's pow defines otherwise, as selects (a branch to libm's pow
    # kept every such loop scalar): a sign for a negative base (-0.0 and -inf included) and an
    # odd integer exponent, NaN for a finite negative base and a non-integer exponent, and 1 for
    # b = 0, a = 1, and a = -1 with b = +-inf.
    r = _exp64_of(b * _log64_of(abs(a)))
    fraction = np.floor(b) != b  # True for a NaN exponent too (its result is NaN either way)
    odd = (np.floor(b) == b) & (np.floor(b * 0.5) * 2.0 != b)
    negative = _bits_of_f64(a) < 0  # type: ignore[call-arg]  # -0.0 included
    finite_negative = (a < 0.0) & (a > -np.inf)  # a negative base's non-integer power: NaN
    r = select(finite_negative & fraction, np.nan, select(negative & odd, -r, r))
    one = (b == 0.0) | (a == 1.0) | ((a == -1.0) & (abs(b) == np.inf))
    return select(one, 1.0, r)


def _pow_for64(x: Any, a: Any, b: Any) -> Any:
    return a**b


@overload(pow_for, jit_options={"forceinline": True})
def _pow_for_overload(x: Any, a: Any, b: Any) -> Any:
    return _by_input(x, _pow_for32, _pow_for64)


@contextlib.contextmanager
def fast_loops() -> Iterator[None]:
    """Ufuncs built inside this block get surrogen's inner loop in place of Numba's.

    Numba's loop (numba.np.ufunc.wrappers, 0.60-0.68) has a fast path only when every argument
    is unit-strided. A scalar parameter has stride 0, so ``grad(x, 4.0)`` always ran the
    general loop, which LLVM cannot vectorise: half of NumPy's speed on a product, a quarter
    of the memory bandwidth with an exp. Numba's fast path also stored the result as if ``out``
    were unit-strided: ``f(x, out=buf[::2])`` filled half the view and overwrote the elements
    between. The loop built here has versions chosen once per call:

    - every argument and ``out`` unit-strided;
    - the leading arguments named ``x`` and ``g`` and ``out`` unit-strided and the rest of
      stride 0 (scalar parameters): those are loaded once, before the loop;
    - anything else: Numba's general loop (any strides, ``out`` included).

    Each of the first two is a plain counted loop over contiguous memory that LLVM vectorises.
    The loop saves the floating-point environment on entry and restores it on exit
    (``feholdexcept``/``fesetenv``, once per call), so no flag that the kernels raise in lanes
    they do not select (see ``opaque``) reaches NumPy as a warning. Only the ufuncs decorated
    in the block are affected: Numba's module is restored on exit.
    """
    from numba.np.ufunc import ufuncbuilder

    original = ufuncbuilder.build_ufunc_wrapper
    ufuncbuilder.build_ufunc_wrapper = _versioned_loop_wrapper(original)
    try:
        yield
    finally:
        ufuncbuilder.build_ufunc_wrapper = original


def _versioned_loop_wrapper(original: Any) -> Any:
    """A ``build_ufunc_wrapper`` (Numba's signature) that emits the loop versions of
    ``fast_loops``; object-mode ufuncs keep Numba's own wrapper."""
    from numba.core import cgutils
    from numba.np.ufunc import wrappers

    def build(library, context, fname, signature, objmode, cres):  # type: ignore[no-untyped-def]  # Numba's own
        if objmode:
            return original(library, context, fname, signature, objmode, cres)
        intp = context.get_value_type(types.intp)
        byte_ptr = ir.PointerType(ir.IntType(8))
        loop_type = ir.FunctionType(
            ir.VoidType(),
            [ir.PointerType(byte_ptr), ir.PointerType(intp), ir.PointerType(intp), byte_ptr],
        )
        lib = context.codegen().create_library("ufunc_wrapper")
        module = lib.create_ir_module("")
        kernel_type = context.call_conv.get_function_type(signature.return_type, signature.args)
        kernel = ir.Function(module, kernel_type, name=fname)
        kernel.attributes.add("alwaysinline")
        # The definition too, in the module the loop links (linking keeps the definition's
        # attributes): LLVM's own heuristics left a large kernel (two exponentials) out of line,
        # a call per element in a scalar loop. Numba's private API (0.60-0.68; cached libraries
        # included); should it change, the loop is still right, only slower.
        with contextlib.suppress(Exception):
            module_for_linking = library._get_module_for_linking()
            module_for_linking.get_function(fname).add_function_attribute("alwaysinline")
        loop = ir.Function(module, loop_type, "__ufunc__." + kernel.name)
        args, dims, steps, _ = loop.args
        builder = ir.IRBuilder(loop.append_basic_block("entry"))
        env = builder.load(
            context.declare_env_global(builder.module, context.get_env_name(cres.fndesc))
        )
        count = builder.load(dims, name="loopcount")
        n = len(signature.args)
        arrays = [
            wrappers.UArrayArg(context, builder, args, steps, i, t)
            for i, t in enumerate(signature.args)
        ]
        out = wrappers.UArrayArg(context, builder, args, steps, n, signature.return_type)
        zero = context.get_constant(types.intp, 0)
        offsets = [cgutils.alloca_once_value(builder, zero) for _ in arrays]
        store_offset = cgutils.alloca_once_value(builder, zero)
        pyapi = context.get_python_api(builder)
        if FLAGS_KEPT:  # the loop's floating-point flags are dropped (see ``opaque``)
            env_type = ir.ArrayType(ir.IntType(64), 32)  # 256 bytes: more than any fenv_t
            saved = builder.bitcast(cgutils.alloca_once(builder, env_type), byte_ptr)
            hold = _libc(module, "feholdexcept", byte_ptr)
            builder.call(hold, [saved])

        def body(hoisted: dict[int, Any], ind: Any) -> None:
            def load() -> list[Any]:
                return [
                    hoisted[i] if i in hoisted else a.load_aligned(ind)
                    for i, a in enumerate(arrays)
                ]

            def store(value: Any) -> None:
                out.store_aligned(value, ind)

            wrappers._build_ufunc_loop_body(
                load,
                store,
                context,
                kernel,
                builder,
                arrays,
                out,
                offsets,
                store_offset,
                signature,
                pyapi,
                env=env,
            )

        # The scalar-parameter version: the leading arguments named x and g unit-strided.
        leading = next((i for i, a in enumerate(cres.fndesc.args) if a not in ("x", "g")), n)
        versions = [n] + ([leading] if 0 < leading < n else [])
        done = builder.append_basic_block("done")
        for unit in versions:
            ok = out.is_unit_strided
            for i, a in enumerate(arrays):
                ok = builder.and_(
                    ok, a.is_unit_strided if i < unit else builder.icmp_unsigned("==", a.step, zero)
                )
            with builder.if_then(ok):
                hoisted = {i: arrays[i].load_direct(zero) for i in range(unit, n)}
                with cgutils.for_range(builder, count, intp=intp) as fast:
                    body(hoisted, fast.index)
                builder.branch(done)
        with cgutils.for_range(builder, count, intp=intp):
            wrappers.build_slow_loop_body(
                context,
                kernel,
                builder,
                arrays,
                out,
                offsets,
                store_offset,
                signature,
                pyapi,
                env=env,
            )
        builder.branch(done)
        builder.position_at_end(done)
        if FLAGS_KEPT:
            builder.call(_libc(module, "fesetenv", byte_ptr), [saved])
        builder.ret_void()
        lib.add_ir_module(module)
        lib.add_linking_library(library)
        return wrappers._wrapper_info(library=lib, env=cres.environment, name=loop.name)

    return build


def _libc(module: Any, name: str, byte_ptr: Any) -> Any:
    """The declaration of ``int name(void *)`` in ``module`` (fenv_t passed as bytes)."""
    fn = module.globals.get(name)
    return fn or ir.Function(module, ir.FunctionType(ir.IntType(32), [byte_ptr]), name)

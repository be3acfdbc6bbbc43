"""The float32 loops compute in float32: no intermediate is float64 (Numba's typing, inspected).

Numba types a bare float literal as float64 and silently promotes the float32 arithmetic around it
(numba/numba#4676); the result is cast back to float32, so the output dtype does not show it and
the values are merely more accurate. Here every operation of the compiled float32 (float64)
functions is read from Numba's typing: an operation on, or giving, the other float type fails,
except the conversion of a literal into the loop's type (``_like(x, 0.5)``, ``_f32(0.5)``).

Numba CPU: the ``_origin``/``_grad`` bodies the ufuncs call. Numba CUDA: the device functions
``origin_f32``/``grad_f32`` (and f64), typed by Numba's CPU front end from their source, since the
CUDA simulator runs them as Python and does not type them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import math

import pytest

from tests.reference import SPECS, has_origin

numba = pytest.importorskip("numba")
from numba import types  # noqa: E402
from numba.core import ir  # noqa: E402

FLOATS = {"f32": types.float32, "f64": types.float64}


def _conversion(expr: ir.Expr, typemap, scalar) -> bool:
    """A call that turns a literal into the loop's type: ``like(x, v)`` or ``float32(v)``."""
    if expr.op != "call":
        return False
    fty = typemap[expr.func.name]
    if isinstance(fty, types.NumberClass):
        return fty.instance_type == scalar
    return isinstance(fty, types.Function) and "like" in str(fty)


def foreign_operations(cres, scalar) -> list[str]:
    """Every operation of a compiled function that involves the other float type."""
    other = types.float64 if scalar == types.float32 else types.float32
    typemap = cres.type_annotation.typemap
    bad = []
    for expr, sig in cres.type_annotation.calltypes.items():
        if sig is None:
            continue
        involved = [*sig.args, sig.return_type]
        if other not in involved:
            continue
        if sig.return_type == scalar and _conversion(expr, typemap, scalar):
            continue
        bad.append(f"{expr} : {sig}")
    return bad


def _compile(py_func, scalar, n_args):
    dispatcher = numba.njit(py_func)  # fresh: a cache-loaded overload carries no typing
    sig = (scalar,) * n_args
    dispatcher.compile(sig)
    return dispatcher.overloads[sig]


def float32_roundings(cres) -> list[str]:
    """Every operation of a widened kernel compiled for float32 input that gives a float32,
    but the one rounding of its result (``like(_x, ...)``)."""
    typemap = cres.type_annotation.typemap
    bad = []
    for expr, sig in cres.type_annotation.calltypes.items():
        if sig is None or sig.return_type != types.float32:
            continue
        if _conversion(expr, typemap, types.float32):
            continue
        bad.append(f"{expr} : {sig}")
    return bad


def _widened(py_func) -> bool:
    return "_wide(_x)" in inspect.getsource(py_func)


@pytest.mark.parametrize("scalar", ["f32", pytest.param("f64", marks=pytest.mark.slow)])
@pytest.mark.parametrize("fn", ["_origin", "_grad"])
def test_numba_cpu_loops_stay_in_their_type(name, fn, scalar):
    """float32 kernels compute in float32, or (widened) wholly in float64 and round once."""
    if fn == "_origin" and not has_origin(name):
        pytest.skip("gradient-only family: no origin function")
    mod = importlib.import_module(f"surrogen.numba_cpu.{name}")
    py_func = getattr(mod, fn).py_func
    cres = _compile(py_func, FLOATS[scalar], 1 + len(SPECS[name].params))
    if scalar == "f32" and _widened(py_func):
        bad = float32_roundings(cres)
        assert not bad, f"numba_cpu.{name}.{fn} [widened] rounds to float32 inside:\n" + "\n".join(
            bad
        )
        assert cres.signature.return_type == types.float32
        return
    bad = foreign_operations(cres, FLOATS[scalar])
    assert not bad, f"numba_cpu.{name}.{fn} [{scalar}] computes in the other type:\n" + "\n".join(
        bad
    )


def test_widened_kernels_are_the_inaccurate_ones():
    """The generator widens exactly the kernels whose float32 evaluation exceeds the bound, and
    at least those of the families whose float32 sums cancel or chain roundings."""
    from surrogen.generator.backends.numba_cpu import WIDEN_ABOVE

    assert WIDEN_ABOVE == 2.0**-23
    for name, fn in [("sigmoid", "_grad"), ("superspike", "_grad"), ("circ", "_grad")]:
        mod = importlib.import_module(f"surrogen.numba_cpu.{name}")
        assert _widened(getattr(mod, fn).py_func), f"{name}.{fn}"
    for name, fn in [
        ("rectangular", "_grad"),
        ("leaky_relu", "_grad"),
        ("straight_through", "_grad"),
    ]:
        mod = importlib.import_module(f"surrogen.numba_cpu.{name}")
        assert not _widened(getattr(mod, fn).py_func), f"{name}.{fn}"


def test_the_widened_check_sees_a_float32_rounding():
    """The check itself: a float32 product inside a widened body is found."""
    from surrogen.runtime.numba_cpu import like, wide

    def body(_x):
        x = wide(_x)
        return like(_x, x * wide(_x * _x))

    bad = float32_roundings(_compile(body, types.float32, 1))
    assert bad and "float32" in bad[0]


def _functions(module, names, namespace) -> None:
    """``names`` from ``module``'s source, undecorated, compiled for the CPU into ``namespace``
    (with njit, so that compiled code can call them)."""
    tree = ast.parse(inspect.getsource(module))
    for node in [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]:
        node.decorator_list = []
        exec(compile(ast.Module([node], []), f"<{node.name}>", "exec"), namespace)  # our code
        namespace[node.name] = numba.njit(namespace[node.name])


def _device_function(name: str, fn: str):
    """The device function's source, compiled for the CPU with real ``math`` and Numba casts;
    the runtime's device helpers (compensated exponentials) likewise, typed as on a GPU."""
    from surrogen.runtime import numba_cuda as runtime

    helpers = {"math": math, "float32": numba.float32, "float64": numba.float64}
    helpers["_SPLIT"] = runtime._SPLIT
    _functions(runtime, {"_two_prod_dekker"}, helpers)
    helpers["_two_prod"] = helpers["_two_prod_dekker"]
    dw = [f"dw_{op}_{s}" for op in ("prod", "mul", "div", "exp") for s in ("f32", "f64")]
    _functions(runtime, set(dw), helpers)
    mod = importlib.import_module(f"surrogen.numba_cuda.{name}")
    namespace = {"math": math, "_f32": numba.float32, "_f64": numba.float64}
    namespace.update({f"_{h}": helpers[h] for h in dw})
    _functions(mod, {fn}, namespace)
    return namespace[fn].py_func


@pytest.mark.parametrize("fn", ["origin_f32", "grad_f32", "origin_f64", "grad_f64"])
def test_numba_cuda_device_functions_stay_in_their_type(name, fn):
    if fn.startswith("origin") and not has_origin(name):
        pytest.skip("gradient-only family: no origin function")
    scalar = FLOATS[fn[-3:]]
    cres = _compile(_device_function(name, fn), scalar, 1 + len(SPECS[name].params))
    bad = foreign_operations(cres, scalar)
    assert not bad, f"numba_cuda.{name}.{fn} computes in the other type:\n" + "\n".join(bad)


def test_the_check_sees_a_bare_literal():
    """The check itself: one untyped literal in a float32 body is found."""

    def body(x):
        return 0.5 * math.exp(x)

    bad = foreign_operations(_compile(body, types.float32, 1), types.float32)
    assert bad and "float64" in bad[0]

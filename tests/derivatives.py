"""Independent references for derivatives of any order, in x and in the parameters.

SymPy differentiates the spec's origin (never the emitted forms) and mpmath evaluates the result
at 50 digits; nothing here goes through surrogen's printers or templates.
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy

from tests.reference import SPECS, checked, defaults, lambdify_mpmath, mp_params

DPS = 50


@functools.cache
def _function(name: str, order: int, wrt: int | None):
    m = checked(name).model
    if m.origin is None:  # a gradient-only family: its declared gradient is order 1
        assert order >= 1, f"{name} has no origin"
        expr, order = m.grad, order - 1
    else:
        expr = m.origin
    # Mod(a, b) as a - b*floor(a/b) before differentiating: SymPy leaves d/dx Mod unevaluated.
    expr = expr.replace(sympy.Mod, lambda a, b: a - b * sympy.floor(a / b))
    for _ in range(order):
        expr = sympy.diff(expr, m.x)
    if wrt is not None:
        assert SPECS[name].params[wrt].domain != "integer", "no derivative in an integer parameter"
        expr = sympy.diff(expr, m.params[wrt])
    return lambdify_mpmath((m.x, *m.params), without_deltas(expr))


def without_deltas(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with DiracDelta terms (the jumps of a Piecewise, zero away from breakpoints)
    dropped and any unevaluated derivative evaluated. Only derivatives: a ``doit`` of the whole
    expression would try to sum a ``Sum`` with a symbolic bound in closed form (minutes, through
    ``solve``), where mpmath adds its terms exactly as written."""
    expr = expr.replace(sympy.DiracDelta, lambda *a: sympy.S.Zero)
    # floor is constant between its jumps: its derivative (bare or in the chain rule's Subs) is 0.
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Subs | sympy.Derivative) and _is_floor_derivative(e),
        lambda e: sympy.S.Zero,
    )
    return expr.replace(lambda e: isinstance(e, sympy.Derivative), lambda e: e.doit())


def _is_floor_derivative(e: sympy.Basic) -> bool:
    inner = e.expr if isinstance(e, sympy.Subs) else e
    return isinstance(inner, sympy.Derivative) and isinstance(inner.expr, sympy.floor)


def derivative(name, order, xs, params=None, wrt=None) -> np.ndarray:
    """d^order origin / dx^order (then d/d params[wrt] if given) at every x, as float64.

    ``params`` is one tuple for all x, or one tuple per x (per-neuron values)."""
    f = _function(name, order, wrt)
    xs = np.asarray(xs, dtype=np.float64)
    ps = params if params is not None else defaults(name)
    rows = ps if np.ndim(ps) == 2 else [ps] * xs.size
    with mpmath.workdps(DPS):
        out = [
            float(f(mpmath.mpf(float(x)), *mp_params(name, row)))
            for x, row in zip(xs.ravel(), rows, strict=True)
        ]
    return np.array(out).reshape(xs.shape)


def away_from_breakpoints(name: str, xs, margin: float = 1e-3) -> np.ndarray:
    """``xs`` without the points within ``margin`` of a breakpoint at the defaults."""
    xs = np.asarray(xs)
    bps = np.array(checked(name).breakpoints)
    if not bps.size:
        return xs
    return xs[np.min(np.abs(xs[:, None] - bps[None, :]), axis=1) > margin]


def scaled_params(name: str, factor: float = 1.5) -> tuple[float, ...]:
    """A second parameter set: real parameters scaled, integer ones plus one."""
    return tuple(
        p.default + 1 if p.domain == "integer" else p.default * factor for p in SPECS[name].params
    )

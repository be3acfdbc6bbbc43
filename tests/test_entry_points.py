"""Defaults of every entry point against the spec file, and JAX's parameter derivatives against the
mpmath reference.

The defaults are read from the YAML with plain ``yaml.safe_load`` (not surrogen's loader). The
derivatives of ``grad`` and ``origin`` with respect to each parameter (``jax.jvp``/``jax.grad``
through the custom_jvp rules) are compared in float64 with mpmath's numerical derivative of the
reference at 50 digits; tolerance 1e-9 relative to the largest value on the grid, far above
float64 rounding (about 1e-15 times the condition number) and far below any wrong formula.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import warnings

import mpmath
import numpy as np
import pytest
import yaml

from surrogen.generator.numeric import numeric_breakpoints
from tests.reference import ROOT, SPECS, _functions, checked, has_origin, mp_params, other_params

jax = pytest.importorskip("jax")
jnp = jax.numpy
pytest.importorskip("numba")


def spec_defaults(name: str) -> dict[str, float]:
    raw = yaml.safe_load((ROOT / "specs" / f"{name}.yaml").read_text())
    return {k: float(v["default"]) for k, v in (raw.get("params") or {}).items()}


def signature_defaults(fn, skip=("x", "g")) -> dict[str, float]:
    return {
        p.name: p.default
        for p in inspect.signature(fn).parameters.values()
        if p.name not in skip and p.kind is p.POSITIONAL_OR_KEYWORD
    }


def test_jax_defaults_match_the_spec(name):
    want = spec_defaults(name)
    m = importlib.import_module(f"surrogen.jax.{name}")
    # A gradient-only family (no origin function) has no ``origin`` entry point.
    fns = (
        (m.origin, m.grad, m.spike, m.spike_jvp)
        if has_origin(name)
        else (m.grad, m.spike, m.spike_jvp)
    )
    for fn in fns:
        assert signature_defaults(fn) == want, fn
    cls = getattr(m, SPECS[name].class_name)
    fields = {
        f.name: f.default for f in dataclasses.fields(cls) if f.name not in {"spiking", "learnable"}
    }
    assert fields == want
    x = jnp.linspace(-2.0, 2.0, 9)
    ps = list(want.values())
    np.testing.assert_array_equal(m.grad(x), m.grad(x, *ps))
    if has_origin(name):
        np.testing.assert_array_equal(m.origin(x), m.origin(x, *ps))
    else:
        assert not hasattr(m, "origin")


def test_numba_defaults_match_the_spec(name):
    want = spec_defaults(name)
    cpu = importlib.import_module(f"surrogen.numba_cpu.{name}")
    gpu = importlib.import_module(f"surrogen.numba_cuda.{name}")
    assert list(cpu.DEFAULTS.items()) == list(want.items())
    assert list(gpu.DEFAULTS.items()) == list(want.items())
    fns = (gpu.origin, gpu.grad, gpu.spike_bwd) if has_origin(name) else (gpu.grad, gpu.spike_bwd)
    if not has_origin(name):  # a gradient-only family has no origin entry point
        assert not hasattr(cpu, "origin") and not hasattr(gpu, "origin")
    for fn in fns:
        assert signature_defaults(fn) == want, fn
    x = np.linspace(-2.0, 2.0, 9, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(gpu.grad(x), gpu.grad(x, *want.values()))


# --- parameter derivatives ------------------------------------------------------------------------

DIFF_DPS = 50
RTOL = 1e-9


def _points(name: str, params: tuple[float, ...]) -> np.ndarray:
    """61 points on [-3w, 3w], none within 1e-3*w of a breakpoint (the derivative jumps there)."""
    with mpmath.workdps(40):
        bps = [float(b) for b in numeric_breakpoints(checked(name).model, params)]
    width = max([abs(b) for b in bps] + [1.0])
    xs = np.linspace(-3 * width, 3 * width, 61) + 1e-3 * width / 7  # off the exact grid of 0
    keep = np.array([all(abs(x - b) > 1e-3 * width for b in bps) for x in xs])
    return xs[keep]


def _reference_partial(name: str, which: str, xs, params, index: int) -> np.ndarray:
    """d(which)/d(params[index]) (index -1: d/dx) of the reference, by mpmath.diff at 50 digits."""
    origin, grad, _ = _functions(name)
    f = origin if which == "origin" else grad
    out = []
    with mpmath.workdps(DIFF_DPS):
        ps = mp_params(name, params)  # integer parameters (a Sum's bound) stay Python ints
        for x in xs:
            xm = mpmath.mpf(float(x))
            if index < 0:
                out.append(float(mpmath.diff(lambda t: f(t, *ps), xm)))
            else:

                def g(t, xm=xm):
                    args = list(ps)
                    args[index] = t
                    return f(xm, *args)

                out.append(float(mpmath.diff(g, ps[index])))
    return np.array(out)


def _close(got, want, what, scale=None):
    got = np.asarray(got, dtype=np.float64)
    scale = scale or float(np.max(np.abs(want))) or 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)


@pytest.mark.parametrize("which", ["defaults", "other"])
@pytest.mark.parametrize("fn", ["grad", "origin"])
def test_jax_parameter_derivatives_match_reference(name, fn, which):
    spec = SPECS[name]
    if not spec.params:
        pytest.skip("no parameters")
    if fn == "origin" and not has_origin(name):
        pytest.skip("gradient-only family: no origin function")
    m = importlib.import_module(f"surrogen.jax.{name}")
    params = tuple(p.default for p in spec.params) if which == "defaults" else other_params(name)
    xs = _points(name, params)
    with jax.enable_x64(True):
        x = jnp.asarray(xs, jnp.float64)
        f = getattr(m, fn)
        for i, p in enumerate(spec.params):
            if p.domain == "integer":
                continue

            def along(t, i=i):
                args = list(params)
                args[i] = t
                return f(x, *args)

            want = _reference_partial(name, fn, xs, params, i)
            forward = jax.jvp(along, (jnp.float64(params[i]),), (jnp.float64(1.0),))[1]
            _close(forward, want, f"jvp d {fn} / d {p.name} ({which})")
            reverse = jax.grad(lambda t, along=along: along(t).sum())(jnp.float64(params[i]))
            total = float(np.sum(np.abs(want))) or 1.0  # the terms may cancel in the sum
            _close(reverse, want.sum(), f"grad d sum({fn}) / d {p.name} ({which})", total)
        # and d/dx of grad (the second derivative) through the same custom_jvp
        if fn == "grad":
            want = _reference_partial(name, fn, xs, params, -1)
            tangent = jax.jvp(lambda v: f(v, *params), (x,), (jnp.ones_like(x),))[1]
            _close(tangent, want, f"jvp d grad / dx ({which})")

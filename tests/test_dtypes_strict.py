"""Every backend, dtype and entry point against the mpmath reference, with strict tolerances.

At the spec's defaults, at another parameter set (each parameter moved by its own factor) and with
per-neuron parameter arrays holding three distinct parameter sets. Entry points: ``origin``,
``grad``, ``spike`` and the backward ``g * grad`` (JAX: ``vjp`` of ``spike``, ``jvp`` of
``spike_jvp`` and of ``origin``, and the class; Numba: ``spike_bwd``), the float16 CUDA kernels
included. The tolerance (``tests/reference.py``, ``assert_strict``) is K = 4 units of the
arithmetic dtype's eps scaled by the condition number, plus half an ulp of the storage dtype where
float16/bfloat16 are computed in float32; every comparison also asserts that a kernel off by
1e-3 (float16, bfloat16), 1e-6 (float32) or 1e-13 (float64) relative would fail it.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from tests.reference import (
    ARITHMETIC,
    ORIGIN_ABSOLUTE,
    PLANTED,
    SPEC_NAMES,
    SPECS,
    arithmetic_params,
    as_dtype,
    assert_rejects_planted,
    assert_strict,
    checked,
    defaults,
    finfo,
    has_origin,
    mp_params,
    np_dtype,
    origin_height,
    other_params,
    reference_per_point,
    strict_grid,
    strict_reference,
)

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.slow  # every spec x backend x dtype: make test-slow
jnp = jax.numpy
pytest.importorskip("numba")

# Cotangents g of the backward pass: exact in every dtype, of both signs, not all 1.
G_CYCLE = np.array([1.0, 0.5, -2.0, 0.75, 3.0])
NAMES = [pytest.param(n, marks=pytest.mark.xdist_group(f"strict-{n}"), id=n) for n in SPEC_NAMES]


def _g(n: int, dtype_name: str) -> np.ndarray:
    return as_dtype(np.resize(G_CYCLE, n), dtype_name)


# --- how each backend is called: (x, g, params) -> {entry point: array} -------------------------


def _jax(name, x, g, params, dtype_name):
    m = importlib.import_module(f"surrogen.jax.{name}")
    cls = getattr(m, SPECS[name].class_name)
    with jax.enable_x64(dtype_name == "float64"):
        c = np.dtype(ARITHMETIC[dtype_name])
        ps = [jnp.asarray(p, c) if isinstance(p, np.ndarray) else p for p in params]
        xj, gj = jnp.asarray(x), jnp.asarray(g)
        out = {
            "grad": m.grad(xj, *ps),
            "spike": m.spike(xj, *ps),
            "spike_jvp": m.spike_jvp(xj, *ps),
            "class": cls(*ps)(xj),
            "spike_vjp": jax.vjp(lambda v: m.spike(v, *ps), xj)[1](gj)[0],
            "spike_jvp_tangent": jax.jvp(lambda v: m.spike_jvp(v, *ps), (xj,), (gj,))[1],
        }
        if has_origin(name):  # a gradient-only family has no origin (nor a smooth class)
            out["origin"] = m.origin(xj, *ps)
            out["class_smooth"] = cls(*ps, spiking=False)(xj)
            out["origin_jvp_tangent"] = jax.jvp(lambda v: m.origin(v, *ps), (xj,), (gj,))[1]
        return {k: np.asarray(v) for k, v in out.items()}


def _numba_cpu(name, x, g, params, dtype_name):
    m = importlib.import_module(f"surrogen.numba_cpu.{name}")
    c = np.dtype(ARITHMETIC[dtype_name]).type
    ps = [p.astype(c) if isinstance(p, np.ndarray) else c(p) for p in params]
    with warnings.catch_warnings():
        if any(isinstance(p, np.ndarray) for p in params):
            # Known defect, not deterministic (it depends on the arrays' alignment): with
            # per-neuron arrays LLVM vectorises a Piecewise and evaluates the unselected branch
            # at x = +-inf (inf*0), raising NumPy's invalid flag. The values are checked below.
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        # float16 has no loop: the float32 loop, rounded into out=
        out = {"out": np.empty_like(x)} if dtype_name == "float16" else {}
        fresh = (lambda: {"out": np.empty_like(x)}) if out else dict
        got = {
            "grad": m.grad(x, *ps, **fresh()),
            "spike": m.spike(x, **fresh()),
            "spike_bwd": m.spike_bwd(x, g, *ps, **fresh()),
        }
        if has_origin(name):
            got["origin"] = m.origin(x, *ps, **fresh())
        return got


def _numba_cuda(name, x, g, params, dtype_name):
    m = importlib.import_module(f"surrogen.numba_cuda.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # simulator: NumPy scalar overflow to inf
        got = {
            "grad": m.grad(x, *params),
            "spike": m.spike(x),
            "spike_bwd": m.spike_bwd(x, g, *params),
        }
        if has_origin(name):
            got["origin"] = m.origin(x, *params)
        return got


BACKENDS = {
    "jax": (_jax, ["float16", "bfloat16", "float32", "float64"]),
    "numba_cpu": (_numba_cpu, ["float16", "float32", "float64"]),
    "numba_cuda": (_numba_cuda, ["float16", "float32", "float64"]),
}
CASES = [(b, d) for b, (_, dts) in BACKENDS.items() for d in dts]
# What each entry point computes, in terms of the reference.
ORIGINS = {"origin", "class_smooth"}
GRADS = {"grad"}
BACKWARDS = {"spike_bwd", "spike_vjp", "spike_jvp_tangent", "origin_jvp_tangent"}
STEPS = {"spike", "spike_jvp", "class"}


# Origins linear in x (h*x on each side): the tolerance's term for x's own rounding, K ulp of
# h*x, is several bfloat16 ulp wide, and a planted 1e-3 error changes h*x by at most one ulp.
LINEAR_ORIGINS = {"sign_flip_triangular"}
# Gradients that are 0 up to x = B > 0 and then decay like a power of x: wherever they are not 0,
# |x*grad'/grad| >= 2*slope*B/(1 + slope*B) (1.9 at the defaults), so the tolerance's term for
# x's rounding is wider than a planted 1e-6 (float32) or 1e-3 (float16) relative error at every
# point: no point of any grid could show it. Its origin stays below 1/slope (0.04): in float16 a
# planted 1e-3 is inside the origin's absolute allowance. The values are still checked.
NO_FLAT_GRADIENT = {"sparse_fast_sigmoid"}


def _check(name, backend, dtype_name, xs, g, ref, got, label, height, planted=True):
    """Every entry point's result: dtype kept, and within the strict tolerance of the reference
    (and, if ``planted``, the tolerance rejects a planted error). Returns {entry: message}."""
    dtype = np_dtype(dtype_name)
    step = np.where(np.isnan(xs), 0.0, (xs >= 0).astype(np.float64))
    failures = {}
    for fn, value in got.items():
        what = f"{backend}.{name}.{fn} ({label})"
        try:
            assert value.dtype == dtype, f"{what}: {dtype_name} in, {value.dtype} out"
            assert value.shape == xs.shape, what
            if fn in STEPS:
                np.testing.assert_array_equal(value.astype(np.float64), step, err_msg=what)
                continue
            extra = 0.0
            if fn in ORIGINS:
                want, slope, absolute = ref.origin, ref.origin_slope, ORIGIN_ABSOLUTE * height
            elif fn in GRADS:
                want, slope, absolute = ref.grad, ref.grad_slope, 0.0
            else:  # g * grad with an exact g: one more rounding, inside K
                g64 = g.astype(np.float64)
                want, slope, absolute = g64 * ref.grad, np.abs(g64) * ref.grad_slope, 0.0
                extra = np.abs(g.astype(np.float64)) * float(finfo(dtype_name).tiny)  # flushed
            assert_strict(value, want, slope, xs, dtype_name, what, absolute, extra)
            # An error that rounds away in the dtype at (nearly) every point (x itself, a box's
            # 1/alpha in bfloat16) is invisible to any test: the claim needs visible points.
            planted_values = as_dtype(want * (1 + PLANTED[dtype_name]), dtype_name)
            half = dtype_name in ("float16", "bfloat16")
            linear = fn in ORIGINS and name in LINEAR_ORIGINS and dtype_name == "bfloat16"
            linear = linear or (name in NO_FLAT_GRADIENT and (fn not in ORIGINS or half))
            visible = np.sum(planted_values != as_dtype(want, dtype_name)) >= 8
            if planted and visible and not linear:
                assert_rejects_planted(want, slope, dtype_name, what, absolute, extra)
        except AssertionError as err:
            failures[fn] = str(err)
    return failures


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("which", ["defaults", "other"])
@pytest.mark.parametrize("backend, dtype_name", CASES, ids=[f"{b}-{d}" for b, d in CASES])
def test_scalar_parameters_match_reference(name, which, backend, dtype_name):
    if which == "other" and not SPECS[name].params:
        pytest.skip("no parameters")
    params = defaults(name) if which == "defaults" else other_params(name)
    ref = strict_reference(name, dtype_name, params)
    x = as_dtype(ref.x, dtype_name)
    g = _g(len(x), dtype_name)
    call, _ = BACKENDS[backend]
    got = call(name, x, g, list(params), dtype_name)
    height = origin_height(name, arithmetic_params(params, dtype_name))
    failures = _check(name, backend, dtype_name, ref.x, g, ref, got, f"{which} {params}", height)
    assert not failures, "\n".join(failures.values())


def _per_neuron_case(name, dtype_name):
    """About 200 points; neuron i has parameter set i % 3 (defaults and two others)."""
    sets = [defaults(name), other_params(name, 1), other_params(name, 2)]
    xs = strict_grid(name, dtype_name, arithmetic_params(sets[1], dtype_name))[::2]
    # strict_grid keeps clear of set 1's parameter-dependent breakpoints; the other two sets'
    # could fall within rounding of a point too (truncated_parabola's 1/alpha = 1.6).
    xs = xs[_clear_of(name, xs, [arithmetic_params(s, dtype_name) for s in sets], dtype_name)]
    rows = [arithmetic_params(sets[i % 3], dtype_name) for i in range(len(xs))]
    arrays = [np.array([r[k] for r in rows]) for k in range(len(sets[0]))]
    return xs, rows, arrays


def _clear_of(name, xs, sets, dtype_name):
    """Whether each x is farther than a few ulps of the dtype from every breakpoint of every set."""
    import mpmath

    from surrogen.generator.numeric import numeric_breakpoints

    bps = []
    with mpmath.workdps(40):
        for params in sets:
            bps += [
                float(b) for b in numeric_breakpoints(checked(name).model, mp_params(name, params))
            ]
    if not bps:
        return np.ones(len(xs), bool)
    gap = np.min(np.abs(np.asarray(xs, np.float64)[:, None] - np.array(bps)[None, :]), axis=1)
    return gap > 8 * float(finfo(dtype_name).eps) * np.maximum(1.0, np.abs(xs))


PER_NEURON = [pytest.param(b, d, id=f"{b}-{d}") for b, d in CASES]


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n.values[0]].params])
@pytest.mark.parametrize("backend, dtype_name", PER_NEURON)
def test_per_neuron_parameters_match_reference(name, backend, dtype_name, request):
    """Distinct values per neuron: a kernel that used one neuron's value for all would fail."""
    if name == "squarewave_fourier_series" and dtype_name in ("float32", "float64"):
        reason = (
            "known gap: the series adds n cosine terms of size ~1 that cancel to ~0.19 at two of"
            " the points; the summation's rounding (6-7 ulp, the same on every backend) exceeds"
            " the pointwise tolerance"
        )
        request.applymarker(pytest.mark.xfail(reason=reason, strict=False))
    xs, rows, arrays = _per_neuron_case(name, dtype_name)
    ref = reference_per_point(name, xs, rows)
    x = as_dtype(xs, dtype_name)
    g = _g(len(x), dtype_name)
    call, _ = BACKENDS[backend]
    got = call(name, x, g, arrays, dtype_name)
    height = max(origin_height(name, r) for r in rows[:3])
    failures = _check(name, backend, dtype_name, xs, g, ref, got, "per-neuron", height)
    assert not failures, "\n".join(failures.values())


# --- regressions of fixed defects, at the defaults, by entry point ---


def _jax_entries(name, dtype_name, fns):
    params = defaults(name)
    ref = strict_reference(name, dtype_name, params)
    x, g = as_dtype(ref.x, dtype_name), _g(len(ref.x), dtype_name)
    got = _jax(name, x, g, list(params), dtype_name)
    height = origin_height(name, arithmetic_params(params, dtype_name))
    failures = _check(name, "jax", dtype_name, ref.x, g, ref, got, "defaults", height)
    return {fn: msg for fn, msg in failures.items() if fn in fns}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_jax_half_precision_backward_rounds_once(name, dtype_name):
    failures = _jax_entries(name, dtype_name, BACKWARDS - {"origin_jvp_tangent"})
    assert not failures, "\n".join(failures.values())


@pytest.mark.parametrize("name", [n for n in NAMES if SPECS[n.values[0]].params])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_jax_origin_jvp_is_finite_far_out(name, dtype_name):
    failures = _jax_entries(name, dtype_name, {"origin_jvp_tangent"})
    assert not failures, "\n".join(failures.values())

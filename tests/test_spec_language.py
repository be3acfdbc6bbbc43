"""The spec language's integer parameters, bounds, finite sums and gradient-only families, as the
generated code sees them: values against the mpmath reference for every bound of a Sum (also
mixed per neuron), and invalid parameters as a ValueError on the host and NaN in the kernels."""

import importlib
import warnings

import numpy as np
import pytest

from tests.reference import ROOT, SPECS, reference_at

jax = pytest.importorskip("jax")
jnp = jax.numpy

SQUARE = "squarewave_fourier_series"
XS = np.linspace(-9.0, 9.0, 181)  # beyond one period (8) on both sides


def module(backend, name):
    return importlib.import_module(f"surrogen.{backend}.{name}")


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_every_bound_of_the_sum_matches_the_reference(n):
    """The Sum is unrolled to its max (16) with masks: each n gives its own partial sum."""
    ref = reference_at(SQUARE, XS, (n, 8.0))
    jax_mod, cpu = module("jax", SQUARE), module("numba_cpu", SQUARE)
    with jax.enable_x64(True):
        got = np.asarray(jax_mod.grad(jnp.asarray(XS), n, 8.0))
        origin = np.asarray(jax_mod.origin(jnp.asarray(XS), n, 8.0))
    np.testing.assert_allclose(got, ref.grad, rtol=1e-12, atol=1e-12 * n)
    np.testing.assert_allclose(origin, ref.origin, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cpu.grad(XS, float(n), 8.0), ref.grad, rtol=1e-12, atol=1e-12 * n)


def test_per_neuron_bounds_in_one_call():
    """n is an ordinary (per-neuron) parameter: one call mixes different numbers of terms."""
    ns = np.array([1, 3, 16])
    x = np.array([0.3, 0.3, 0.3])
    want = [reference_at(SQUARE, x[:1], (int(n), 8.0)).grad[0] for n in ns]
    cpu = module("numba_cpu", SQUARE)
    np.testing.assert_allclose(cpu.grad(x, ns.astype(np.float64), 8.0), want, rtol=1e-13)
    got = jax.jit(lambda v, n: module("jax", SQUARE).grad(v, n, 8.0))(x, ns)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (SQUARE, (2.5, 8.0), "squarewave_fourier_series: n must be an integer, got 2.5"),
        (SQUARE, (17, 8.0), "squarewave_fourier_series: n must be <= 16, got 17.0"),
        (SQUARE, (0, 8.0), "squarewave_fourier_series: n must be >= 1, got 0.0"),
        ("q_pseudo_spike", (1.0,), "q_pseudo_spike: alpha must be > 1.0, got 1.0"),
    ],
)
def test_invalid_parameter_is_an_error_on_the_host_and_nan_in_kernels(name, params, message):
    x = np.linspace(-2, 2, 5)
    jax_mod = module("jax", name)
    for call in (
        lambda: jax_mod.grad(x, *params),
        lambda: jax_mod.origin(x, *params),
        lambda: jax_mod.spike(x, *params),
        lambda: jax.grad(lambda v: jax_mod.spike(v, *params).sum())(x),
        lambda: getattr(jax_mod, SPECS[name].class_name)(*params),
        lambda: module("numba_cuda", name).grad(x, *params),
    ):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == message
    # A NumPy array of per-neuron values is checked too, naming the first bad one.
    with pytest.raises(ValueError, match="must be"):
        jax_mod.grad(x, np.array([params[0], params[0]]), *params[1:])
    # Where the value cannot be inspected (traced, a JAX array, a ufunc argument): NaN.
    traced = jax.jit(lambda v, *ps: jax_mod.grad(v, *ps))(x, *params)
    assert np.isnan(np.asarray(traced)).all()
    with np.errstate(invalid="ignore"):
        cpu = module("numba_cpu", name).grad(x, *[float(p) for p in params])
    assert np.isnan(cpu).all()


def test_valid_parameters_are_not_refused():
    x = np.linspace(-2, 2, 5)
    module("jax", SQUARE).grad(x, np.int64(16), 8.0)  # NumPy integers, and the bounds themselves
    module("jax", SQUARE).grad(x, 1, 8.0)
    module("jax", "q_pseudo_spike").grad(x, np.array([1.5, 7.0]).reshape(2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = module("numba_cuda", SQUARE).grad(x.astype(np.float32), 3, 8.0)
    assert np.isfinite(out).all()


def test_gradient_only_family_has_no_origin_anywhere():
    name = "periodic_exponential"
    assert SPECS[name].origin is None and SPECS[name].grad
    for backend in ("jax", "numba_cpu", "numba_cuda"):
        mod = module(backend, name)
        assert not hasattr(mod, "origin") and "origin" not in mod.__all__
    cls = module("jax", name).PeriodicExponential
    assert "spiking" not in cls.__dataclass_fields__
    text = (ROOT / "generated" / "docs" / f"{name}.md").read_text()
    assert "A gradient-only family" in text and "no `origin` function" in text

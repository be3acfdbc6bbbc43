"""The JAX backend's public API: spike (custom_vjp), spike_jvp, origin, grad, the classes."""

import importlib

import mpmath
import numpy as np
import pytest

from surrogen.generator.symbolic import pointwise_diff
from tests.reference import SPECS, checked, defaults, has_origin, lambdify_mpmath

jax = pytest.importorskip("jax")
jnp = jax.numpy
lax = jax.lax

X = jnp.concatenate([jnp.linspace(-3.0, 3.0, 241), jnp.array([-0.0, 1e-7, -1e-7, 0.37, -2.5])])


def mod(name):
    return importlib.import_module(f"surrogen.jax.{name}")


def points(name):
    """A moderate grid plus both sides of every breakpoint (never exactly on one)."""
    near = [b + s * 1e-3 for b in checked(name).breakpoints for s in (-1, 1)]
    xs = jnp.concatenate([X, jnp.array(near, dtype=X.dtype)])
    bps = np.array(checked(name).breakpoints)
    keep = [not np.any(np.isclose(v, bps, atol=1e-6)) for v in np.asarray(xs)] if len(bps) else None
    return xs if keep is None else xs[np.array(keep)]


def mp_derivative(name, order, xs, params=None):
    """d^order origin / dx^order from SymPy + mpmath (independent of the generated code)."""
    m = checked(name).model
    # A gradient-only family starts from its declared gradient (the first derivative).
    expr, done = (m.origin, 0) if m.origin is not None else (m.grad, 1)
    assert order >= done
    for _ in range(order - done):
        expr = pointwise_diff(expr, m.x)
    f = lambdify_mpmath((m.x, *m.params), expr)
    ps = params if params is not None else defaults(name)
    kinds = [p.domain for p in SPECS[name].params]
    ps = [int(v) if kind == "integer" else v for v, kind in zip(ps, kinds, strict=True)]
    with mpmath.workdps(50):
        return np.array([float(f(mpmath.mpf(float(x)), *ps)) for x in np.asarray(xs)])


def test_grad_of_spike_equals_grad_and_reference(name):
    m, xs = mod(name), points(name)
    via_vjp = jax.vmap(jax.grad(m.spike))(xs)
    np.testing.assert_allclose(via_vjp, m.grad(xs), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(via_vjp, mp_derivative(name, 1, xs), rtol=2e-5, atol=1e-6)


def test_grad_of_origin_equals_reference(name):
    m, xs = mod(name), points(name)
    if not has_origin(name):  # a gradient-only family has no origin, and no class flag for it
        assert not hasattr(m, "origin")
        assert "spiking" not in getattr(m, SPECS[name].class_name).__dataclass_fields__
        return
    np.testing.assert_allclose(
        jax.vmap(jax.grad(m.origin))(xs), mp_derivative(name, 1, xs), rtol=2e-5, atol=1e-6
    )


def test_printed_origin_autodiff_matches_printed_grad(name):
    """Autodiff of the printed origin body (origin.fun, not its custom_jvp) vs the printed grad:
    two independently printed expressions that must agree (away from breakpoints)."""
    m, xs = mod(name), points(name)
    if not has_origin(name):
        pytest.skip("a gradient-only family has no origin (test_grad_of_origin_equals_reference)")
    np.testing.assert_allclose(
        jax.vmap(jax.grad(m.origin.fun))(xs), m.grad(xs), rtol=2e-5, atol=1e-6
    )


def test_spike_forward(name):
    m = mod(name)
    x = jnp.array([-2.0, -1e-30, -0.0, 0.0, 1e-30, 2.0, jnp.nan, -jnp.inf, jnp.inf], jnp.float32)
    expected = [0, 0, 1, 1, 1, 1, 0, 0, 1]
    for fn in (m.spike, m.spike_jvp, getattr(m, SPECS[name].class_name)()):
        out = fn(x)
        assert out.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(out), expected)


def test_spike_forward_subnormals_and_half_dtypes():
    """XLA on CPU flushes subnormals in comparisons; the bit-level step must not."""
    m = mod("sigmoid")
    tiny = np.array([-1.4e-45, 1.4e-45], np.float32)
    np.testing.assert_array_equal(np.asarray(m.spike(jnp.asarray(tiny))), [0, 1])
    for dtype in (jnp.float16, jnp.bfloat16):
        x = jnp.array([-1.0, -0.0, 0.0, 1.0], dtype)
        out = m.spike(x)
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.asarray(out, np.float32), [0, 1, 1, 1])
        assert jax.grad(lambda v: m.spike(v).sum())(x).dtype == dtype


def test_spike_jvp_forward_mode_and_second_derivative(name):
    m, xs = mod(name), points(name)
    primal, tangent = jax.jvp(m.spike_jvp, (xs,), (jnp.ones_like(xs),))
    np.testing.assert_allclose(tangent, m.grad(xs), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(primal, m.spike(xs))
    jac = jax.vmap(jax.jacfwd(m.spike_jvp))(xs)
    np.testing.assert_allclose(jac, m.grad(xs), rtol=1e-6, atol=1e-7)
    second = mp_derivative(name, 2, xs)
    scale = np.max(np.abs(second)) + 1
    for fn in (jax.hessian(m.spike_jvp), jax.grad(jax.grad(m.spike))):
        np.testing.assert_allclose(jax.vmap(fn)(xs), second, rtol=1e-4, atol=1e-4 * scale)


def test_parameters_traced_positional_keyword_and_per_neuron(name):
    m, spec = mod(name), SPECS[name]
    if not spec.params:
        pytest.skip("no parameters")
    xs = points(name)[:64]
    scaled = [p.default * 1.5 for p in spec.params]
    want = mp_derivative(name, 1, xs, scaled)

    @jax.jit
    def traced(x, *params):
        return jax.grad(lambda v: m.spike(v, *params).sum())(x)

    np.testing.assert_allclose(traced(xs, *scaled), want, rtol=2e-5, atol=1e-6)
    kwargs = {p.name: v for p, v in zip(spec.params, scaled, strict=True)}
    np.testing.assert_allclose(
        jax.grad(lambda v: m.spike(v, **kwargs).sum())(xs), want, rtol=2e-5, atol=1e-6
    )
    # Per-neuron parameters: an array broadcast against x, each neuron its own value.
    per_neuron = [jnp.full(xs.shape, v) for v in scaled]
    got = jax.jit(jax.grad(lambda v, *ps: m.spike(v, *ps).sum()))(xs, *per_neuron)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    # Parameters get a zero cotangent: the forward pass does not depend on them.
    dparam = jax.grad(lambda p: m.spike(xs, p, *scaled[1:]).sum())(scaled[0])
    assert float(dparam) == 0.0


def test_origin_parameter_derivative(name):
    """origin's custom_jvp also carries d origin / d parameter (checked by finite differences);
    for a gradient-only family, grad's custom_jvp does."""
    m, spec = mod(name), SPECS[name]
    if not spec.params:
        pytest.skip("no parameters")
    fn = m.origin if has_origin(name) else m.grad
    xs = points(name)[::8]
    ps = list(defaults(name))
    with jax.enable_x64(True):
        x64 = jnp.asarray(np.asarray(xs), jnp.float64)
        for i in range(len(ps)):
            if spec.params[i].domain == "integer":
                continue  # no derivative, and no finite difference, in an integer parameter

            def f(p, i=i):
                args = list(ps)
                args[i] = p
                return fn(x64, *args)

            got = jax.jacfwd(f)(jnp.float64(ps[i]))
            h = 1e-6 * max(1.0, abs(ps[i]))
            fd = (f(ps[i] + h) - f(ps[i] - h)) / (2 * h)
            np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-6)


def test_vmap_and_class(name):
    m, spec = mod(name), SPECS[name]
    cls = getattr(m, spec.class_name)
    f = cls()
    batch = jnp.stack([points(name)[:32]] * 3)
    np.testing.assert_array_equal(jax.vmap(f)(batch), m.spike(batch))
    assert hash(f) == hash(cls()) and f == cls()  # usable as a static argument of jit
    if not has_origin(name):
        with pytest.raises(TypeError, match="spiking"):
            cls(spiking=False)  # a gradient-only family has no smooth forward
        return
    smooth = cls(spiking=False)
    np.testing.assert_allclose(smooth(batch), m.origin(batch), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(lambda v: smooth(v).sum())(batch[0]), m.grad(batch[0]), rtol=1e-5, atol=1e-6
    )


def test_reexports():
    import surrogen.jax as gj

    for name, spec in SPECS.items():
        assert getattr(gj, name) is mod(name)
        assert getattr(gj, spec.class_name) is getattr(mod(name), spec.class_name)
    assert sorted(gj.NAMES) == sorted(SPECS)


def _lif_loss(spike_fn, w, inputs):
    """A current-based LIF layer unrolled with lax.scan; loss on the spike count."""
    decay, threshold = 0.9, 1.0

    def step(v, x_t):
        v = decay * v + x_t @ w
        s = spike_fn(v - threshold)
        return v * (1.0 - lax.stop_gradient(s)), s

    _, spikes = lax.scan(step, jnp.zeros(w.shape[1]), inputs)
    return jnp.sum((spikes.sum(0) - 3.0) ** 2)


@pytest.mark.parametrize("surrogate", ["superspike", "sigmoid", "piecewise_quadratic"])
def test_grad_through_lax_scan_lif(surrogate):
    """BPTT through a scan with the generated spike equals BPTT with an independent
    straight-through construction: forward H(x), backward autodiff of the printed origin."""
    m = mod(surrogate)
    key = jax.random.PRNGKey(0)
    w = jax.random.normal(key, (5, 4)) * 0.6
    inputs = jax.random.uniform(jax.random.PRNGKey(1), (30, 5))

    def independent(x):
        smooth = m.origin.fun(x)
        return jnp.where(x >= 0, 1.0, 0.0) + smooth - lax.stop_gradient(smooth)

    got = jax.jit(jax.grad(_lif_loss, argnums=1), static_argnums=0)(m.spike, w, inputs)
    want = jax.grad(_lif_loss, argnums=1)(independent, w, inputs)
    assert np.all(np.isfinite(got)) and np.any(got != 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_second_derivatives_stay_finite_far_from_threshold(name):
    """grad carries its own symbolic derivative (custom_jvp): reverse-over-reverse never meets
    0 * inf in a jnp.where branch that was not selected (s2nn's exp(alpha*x) at x = 30 did)."""
    m = mod(name)
    xs = jnp.array([-1e4, -50.0, -30.0, -7.5, 7.5, 30.0, 50.0, 1e4])
    want = mp_derivative(name, 2, xs)
    scale = np.max(np.abs(mp_derivative(name, 2, points(name)))) + 1
    fns = [jax.grad(jax.grad(m.spike)), jax.hessian(m.spike_jvp)]
    fns += [jax.grad(jax.grad(m.origin))] if has_origin(name) else [jax.grad(m.grad)]
    for fn in fns:
        got = np.asarray(jax.vmap(fn)(xs))
        assert np.all(np.isfinite(got)), got
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * scale)

"""Parameter semantics under JAX transforms: vmap over parameters with the gradient inside or
outside the vmap, broadcasting of per-neuron parameters on every entry point, traced and scanned
parameters, and the classes as pytrees. Expected values come from mpmath (tests/derivatives.py).
"""

import importlib

import numpy as np
import pytest

from tests.derivatives import derivative, scaled_params
from tests.reference import (
    SPECS,
    checked,
    defaults,
    has_origin,
    mp_params,
    real_params,
    scaled_within_bounds,
)

jax = pytest.importorskip("jax")
jnp = jax.numpy
lax = jax.lax

W = np.array([[0.3, -0.2], [0.05, 0.1], [-0.4, 0.25]], np.float32)
U = np.array([1.0, 0.5], np.float32)
FACTORS = (0.25, 1.0, 2.5, 6.25)  # the first parameter at these multiples of its default


def mod(name):
    return importlib.import_module(f"surrogen.jax.{name}")


def first_param_values(name):
    p = SPECS[name].params[0]
    if p.domain == "integer":
        return [p.default + i for i in range(len(FACTORS))]
    # inside its declared bounds: a lower bound's distance scaled (q_pseudo_spike's alpha > 1)
    return [scaled_within_bounds(name, 0, f) for f in FACTORS]


def with_params(fn, rest):
    return lambda v, k: fn(v, k, *rest)


def _params_or_skip(name):
    if not SPECS[name].params:
        pytest.skip("no parameters")


def test_the_issue_example_is_not_four_times_too_large():
    """Three slopes share W; the gradient is taken outside the vmap over the slope."""
    m = mod("sigmoid")
    ks = jnp.array([1.0, 4.0, 10.0, 25.0])

    def loss(w):
        return jnp.mean(jax.vmap(lambda k: jnp.sum(m.spike(w @ U - 0.1, k)))(ks))

    got = np.asarray(jax.grad(loss)(jnp.asarray(W)))
    z = (W @ U - np.float32(0.1)).astype(np.float64)  # the float32 inputs the kernel sees
    want = np.mean([np.outer(derivative("sigmoid", 1, z, (k,)), U) for k in ks.tolist()], axis=0)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-9)


@pytest.mark.parametrize("entry", ["spike", "spike_jvp", "spike_learnable", "origin", "grad"])
def test_vmap_over_a_parameter_gradient_outside_and_inside(name, entry):
    _params_or_skip(name)
    if entry in ("origin", "spike_learnable") and not has_origin(name):
        pytest.skip(f"gradient-only family: no origin function, so no {entry}")
    m = mod(name)
    order = {"origin": 1, "grad": 2}.get(entry, 1)  # d(entry)/dx is d^order origin / dx^order
    fn = with_params(getattr(m, entry), defaults(name)[1:])
    ks = first_param_values(name)
    z = (W @ U - np.float32(0.1)).astype(np.float64)
    per_k = [np.outer(derivative(name, order, z, (k, *defaults(name)[1:])), U) for k in ks]

    def loss(w):
        return jnp.mean(jax.vmap(lambda k: jnp.sum(fn(w @ U - 0.1, k)))(jnp.asarray(ks)))

    outside = np.asarray(jax.grad(loss)(jnp.asarray(W)))
    scale = max(1.0, float(np.max(np.abs(per_k))))
    np.testing.assert_allclose(outside, np.mean(per_k, axis=0), rtol=2e-5, atol=2e-6 * scale)
    inside = jax.vmap(jax.grad(lambda w, k: jnp.sum(fn(w @ U - 0.1, k))), in_axes=(None, 0))(
        jnp.asarray(W), jnp.asarray(ks)
    )
    np.testing.assert_allclose(np.asarray(inside), per_k, rtol=2e-5, atol=2e-6 * scale)


def test_every_entry_point_returns_the_broadcast_shape(name):
    m, spec = mod(name), SPECS[name]
    cls = getattr(m, spec.class_name)
    x = jnp.linspace(-1.5, 1.5, 5)  # (5,)
    if not spec.params:
        for fn in (m.spike, m.spike_jvp, m.spike_learnable, m.origin, m.grad, cls()):
            assert fn(x).shape == (5,)
        return
    first = jnp.array([[defaults(name)[0]], [scaled_params(name)[0]]])  # (2, 1)
    rest = defaults(name)[1:]
    # A gradient-only family has no origin, hence no origin and no spike_learnable.
    spikes = (
        ("spike", "spike_jvp", "spike_learnable") if has_origin(name) else ("spike", "spike_jvp")
    )
    others = ("origin", "grad") if has_origin(name) else ("grad",)
    fns = [getattr(m, f) for f in spikes + others]
    fns.append(lambda v, p, *r: cls(p, *r)(v))
    for fn in fns:
        assert fn(x, first, *rest).shape == (2, 5)
        assert fn(x[:, None], first[:, 0], *rest).shape == (5, 2)
    # The gradient with respect to x keeps x's shape: the cotangent is summed over the
    # broadcast dimension, row by row the reference's gradient.
    rows = [(float(first[i, 0]), *rest) for i in range(2)]
    want = sum(derivative(name, 1, np.asarray(x, np.float64), row) for row in rows)
    for fn in fns[: len(spikes)] + fns[-1:]:
        g = jax.grad(lambda v, fn=fn: jnp.sum(fn(v, first, *rest)))(x)
        assert g.shape == x.shape
        np.testing.assert_allclose(np.asarray(g), want, rtol=2e-5, atol=1e-6)


def test_parameters_traced_under_jit_and_scanned(name):
    _params_or_skip(name)
    m = mod(name)
    ks = first_param_values(name)
    rest = defaults(name)[1:]
    x = jnp.array([-0.7, -0.1, 0.05, 0.4, 1.3])

    @jax.jit
    def total(ks):
        def step(acc, k):
            g = jax.grad(lambda v: jnp.sum(m.spike(v, k, *rest)))(x)
            return acc + g, g

        return lax.scan(step, jnp.zeros_like(x), ks)

    acc, each = total(jnp.asarray(ks))
    x64 = np.asarray(x, np.float64)
    want = np.array([derivative(name, 1, x64, (k, *rest)) for k in ks])
    # A point within float32 rounding of a breakpoint that moves with the parameter may land on
    # either side in the kernel (truncated_parabola's 1/alpha = 0.4 at alpha = 2.5): compared
    # only where no breakpoint is that close.
    clear = np.array([_clear_of_breakpoints(name, x64, (k, *rest)) for k in ks])
    np.testing.assert_allclose(np.asarray(each)[clear], want[clear], rtol=2e-5, atol=1e-6)
    if clear.all():
        np.testing.assert_allclose(np.asarray(acc), want.sum(axis=0), rtol=2e-5, atol=1e-6)


def _clear_of_breakpoints(name, xs, params):
    """Whether each x is farther than float32 rounding from every breakpoint at ``params``."""
    import mpmath

    from surrogen.generator.numeric import numeric_breakpoints

    with mpmath.workdps(40):
        bps = [float(b) for b in numeric_breakpoints(checked(name).model, mp_params(name, params))]
    if not bps:
        return np.ones(xs.shape, bool)
    gap = np.min(np.abs(xs[:, None] - np.array(bps)[None, :]), axis=1)
    return gap > 1e-6 * np.maximum(1.0, np.abs(xs))


def test_class_is_a_pytree_with_the_parameters_as_leaves(name):
    m, spec = mod(name), SPECS[name]
    cls = getattr(m, spec.class_name)
    f = cls()
    leaves, tree = jax.tree_util.tree_flatten(f)
    assert [float(v) for v in leaves] == list(defaults(name))
    assert jax.tree_util.tree_unflatten(tree, leaves) == f
    assert hash(f) == hash(cls())  # still usable as a static argument with scalar parameters
    x = jnp.linspace(-1.0, 1.0, 7)
    if not spec.params:
        assert jax.jit(lambda c, v: c(v))(f, x).shape == (7,)
        return
    # What depends on the parameters: the smooth forward (the origin), or for a gradient-only
    # family (no origin, no spiking=False) the surrogate gradient of its step, d/dx, against grad.
    if has_origin(name):

        def make(*ps):
            return cls(*ps, spiking=False)

        def value(c, v):
            return c(v)

        want_fn = m.origin
    else:
        make = cls

        def value(c, v):
            return jax.grad(lambda u: jnp.sum(c(u)))(v)

        want_fn = m.grad
    # jit traces the parameters: an array parameter works, and a new value does not retrace.
    traces = []

    @jax.jit
    def smooth(c, v):
        traces.append(None)
        return value(c, v)

    a = make(jnp.asarray(scaled_params(name)[0]), *defaults(name)[1:])
    b = make(jnp.asarray(defaults(name)[0]), *defaults(name)[1:])
    # Jit may contract a*b + c into one rounding where eager rounds twice: the same to float32
    # rounding of the function's size (truncated_parabola's origin, 1 ulp inside its edge, is
    # 4e-8 of cancellation noise either way).
    want = np.asarray(want_fn(x, scaled_params(name)[0], *defaults(name)[1:]))
    size = float(np.max(np.abs(want)))
    np.testing.assert_allclose(np.asarray(smooth(a, x)), want, rtol=1e-6, atol=1e-6 * size)
    smooth(b, x)
    assert len(traces) == 1
    # vmap over a batch of classes: one row per parameter value.
    ks = jnp.asarray(first_param_values(name))
    batch = make(ks, *(jnp.full(ks.shape, r) for r in defaults(name)[1:]))
    rows = jax.vmap(lambda c: value(c, x))(batch)
    for k, row in zip(ks.tolist(), np.asarray(rows), strict=True):
        want = np.asarray(want_fn(x, k, *defaults(name)[1:]))
        size = float(np.max(np.abs(want)))
        np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-6 * size)
    # Not learnable (the default): the real parameters get no gradient, in either mode (an
    # integer parameter has no derivative: it stays a fixed Python int).
    ps, reals = defaults(name), real_params(name)

    def loss(values, **mode):
        params = list(ps)
        for i, v in zip(reals, values, strict=True):
            params[i] = v
        return jnp.sum(cls(*params, **mode)(x))

    modes = [{"spiking": True}, {"spiking": False}] if has_origin(name) else [{}]
    for mode in modes:
        g = jax.grad(lambda vs, mode=mode: loss(vs, **mode))(tuple(float(ps[i]) for i in reals))
        assert all(float(v) == 0.0 for v in g)

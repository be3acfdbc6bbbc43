"""The PyTorch backend's public API: spike, origin and grad as autograd.Functions, the modules,
torch.func transforms, gradcheck, torch.compile of a LIF step, and BPTT against the JAX backend.

Values are compared with SymPy derivatives of the spec's origin evaluated by mpmath (independent
of the generated code); the per-dtype extreme-grid tests are in test_numerics.py.
"""

import doctest
import importlib

import numpy as np
import pytest

from tests.derivatives import derivative, scaled_params
from tests.reference import (
    SPECS,
    checked,
    defaults,
    has_origin,
    real_params,
)

torch = pytest.importorskip("torch")
func = torch.func

DEVICES = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
X = torch.cat(
    [
        torch.linspace(-3.0, 3.0, 241, dtype=torch.float64),
        torch.tensor([-0.0, 1e-7, -1e-7, 0.37, -2.5], dtype=torch.float64),
    ]
)


def mod(name):
    return importlib.import_module(f"surrogen.torch.{name}")


def points(name, device="cpu", dtype=torch.float64):
    """A moderate grid plus both sides of every breakpoint (never exactly on one)."""
    bps = np.array(checked(name).breakpoints, dtype=np.float64)
    near = [b + s * 1e-3 for b in bps for s in (-1, 1)]
    xs = np.concatenate([X.numpy(), np.array(near)])
    if len(bps):
        xs = xs[[not np.any(np.isclose(v, bps, atol=1e-6)) for v in xs]]
    return torch.tensor(xs, dtype=dtype, device=device)


def mp_derivative(name, xs, order=1, wrt=None, params=None):
    """d^order origin / dx^order (or d origin / d wrt, a parameter name) by SymPy and mpmath."""
    xs = xs.detach().cpu().numpy() if isinstance(xs, torch.Tensor) else np.asarray(xs)
    index = None
    if wrt is not None:
        index = [p.name for p in SPECS[name].params].index(wrt)
        order = 0
    return derivative(name, order, xs, params=params, wrt=index)


def close(got, want, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(got.detach().cpu().double().numpy(), want, rtol=rtol, atol=atol)


# --- forward ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_spike_forward_special_values_every_dtype(name, device):
    m = mod(name)
    cls = getattr(m, SPECS[name].class_name)
    expected = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        tiny = torch.finfo(dtype).tiny  # the smallest normal number, then a subnormal
        subnormal = tiny * torch.finfo(dtype).eps
        values = [-2.0, -tiny, -subnormal, -0.0, 0.0, subnormal, tiny, 2.0]
        values += [float("nan"), -float("nan"), -float("inf"), float("inf")]
        x = torch.tensor(values, dtype=dtype, device=device)
        assert x[2] != 0 and x[5] != 0
        for fn in (m.spike, cls()):
            out = fn(x)
            assert out.dtype == dtype and out.device == x.device
            assert out.cpu().tolist() == expected, (dtype, fn)


def test_spike_forward_subnormals_with_flush_denormal():
    """Decided on the sign bit: a negative subnormal never spikes, flushed or not."""
    m = mod("sigmoid")
    tiny = torch.tensor([-1.4e-45, 1.4e-45, -0.0], dtype=torch.float32)
    tiny64 = torch.tensor([-5e-324, 5e-324, -0.0], dtype=torch.float64)
    was = torch.set_flush_denormal(True)  # False where the CPU cannot flush: then nothing changes
    try:
        assert m.spike(tiny).tolist() == [0, 1, 1]
        assert m.spike(tiny64).tolist() == [0, 1, 1]
    finally:
        torch.set_flush_denormal(False)
    assert was in (True, False)
    assert m.spike(tiny).tolist() == [0, 1, 1]


def test_integer_input_gives_the_default_float_dtype():
    m = mod("sigmoid")
    x = torch.tensor([-1, 0, 2])
    assert m.spike(x).dtype == torch.get_default_dtype()
    assert m.spike(x).tolist() == [0, 1, 1]
    close(m.grad(x), mp_derivative("sigmoid", x), rtol=1e-6, atol=1e-7)


# --- reverse mode, forward mode and vmap against the mpmath reference ---------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_backward_of_spike_equals_grad_and_reference(name, device):
    m, xs = mod(name), points(name, device)
    x = xs.clone().requires_grad_()
    m.spike(x).backward(torch.ones_like(x))
    want = mp_derivative(name, xs)
    close(x.grad, want)
    close(m.grad(xs), want)
    if has_origin(name):
        y = xs.clone().requires_grad_()
        m.origin(y).sum().backward()  # origin's own backward is grad
        close(y.grad, want)


def test_torch_func_transforms(name):
    m, xs = mod(name), points(name)
    first, second = mp_derivative(name, xs), mp_derivative(name, xs, order=2)
    scale = np.max(np.abs(second)) + 1
    close(func.vmap(func.grad(m.spike))(xs), first)
    _, pullback = func.vjp(m.spike, xs)
    close(pullback(torch.ones_like(xs))[0], first)
    primal, tangent = func.jvp(m.spike, (xs,), (torch.ones_like(xs),))
    assert torch.equal(primal, m.spike(xs))
    close(tangent, first)
    close(func.vmap(func.jacrev(m.spike))(xs), first)
    close(func.vmap(func.jacfwd(m.spike))(xs), first)
    close(torch.diagonal(func.jacrev(m.spike)(xs[:40])), first[:40])
    second_order = [func.hessian(m.spike), func.grad(func.grad(m.spike))]
    second_order += [func.hessian(m.origin)] if has_origin(name) else [func.grad(m.grad)]
    for fn in second_order:
        close(func.vmap(fn)(xs), second, rtol=1e-8, atol=1e-10 * scale)
    # Double backward with plain autograd: create_graph through spike's backward.
    x = xs.clone().requires_grad_()
    (g,) = torch.autograd.grad(m.spike(x).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x, allow_unused=True, materialize_grads=True)
    close(gg, second, rtol=1e-8, atol=1e-10 * scale)


def test_second_derivatives_stay_finite_far_from_threshold(name):
    """grad carries its own symbolic derivative: reverse-over-reverse never meets 0 * inf in a
    torch.where branch that was not selected (s2nn's exp(alpha*x) at x = 30)."""
    m = mod(name)
    xs = torch.tensor([-1e4, -50.0, -30.0, -7.5, 7.5, 30.0, 50.0, 1e4], dtype=torch.float32)
    want = mp_derivative(name, xs, order=2)
    scale = np.max(np.abs(mp_derivative(name, points(name), order=2))) + 1
    second_order = (func.grad(func.grad(m.spike)), func.hessian(m.spike))
    third = func.grad(func.grad(m.origin)) if has_origin(name) else func.grad(m.grad)
    for fn in (*second_order, third):
        got = func.vmap(fn)(xs)
        assert torch.isfinite(got).all(), (fn, got)
        close(got, want, rtol=1e-4, atol=1e-6 * scale)


# Known gap: a second derivative through a parameter is autograd of the emitted first partial,
# and where that partial is a per-sign select (q_pseudo_spike's (1 -+ 2x/(alpha - 1))**-alpha),
# the unselected branch's log of a negative number makes the select's gradient NaN. The JAX
# backend carries explicit forms for this; the torch one does not yet.
MIXED_SECOND_ORDER_GAPS = {"q_pseudo_spike"}


def test_gradcheck_origin_and_grad_float64(name, request):
    """The Functions' own derivative rules against finite differences, in x and in a tensor
    parameter (first and second order; forward mode too)."""
    if name in MIXED_SECOND_ORDER_GAPS:
        reason = "second derivative in a parameter through a per-sign select is NaN (known gap)"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    m = mod(name)
    xs = points(name)[::12].clone().requires_grad_()
    # An integer parameter is passed as an int: it has no derivative (nor a finite difference).
    params = [
        torch.tensor(p, dtype=torch.float64, requires_grad=True) if i in real_params(name) else p
        for i, p in enumerate(defaults(name))
    ]
    for fn in (m.origin, m.grad) if has_origin(name) else (m.grad,):
        assert torch.autograd.gradcheck(fn, (xs, *params), check_forward_ad=True)
        assert torch.autograd.gradgradcheck(fn, (xs, *params))
    # spike: its derivative is by design not the finite difference of the step; check the
    # derivative of its backward (= d grad / dx) instead.
    backward = lambda v: torch.autograd.grad(m.spike(v).sum(), v, create_graph=True)[0]  # noqa: E731
    assert torch.autograd.gradcheck(backward, (xs,))


# --- parameters ---------------------------------------------------------------------------------


def test_parameters_positional_keyword_tensor_and_per_neuron(name):
    m, spec = mod(name), SPECS[name]
    if not spec.params:
        pytest.skip("no parameters")
    xs = points(name)[:64]
    scaled = list(scaled_params(name))
    want = mp_derivative(name, xs, params=scaled)

    def backward(*params, **kwargs):
        x = xs.clone().requires_grad_()
        m.spike(x, *params, **kwargs).sum().backward()
        return x.grad

    close(backward(*scaled), want)
    close(backward(**{p.name: v for p, v in zip(spec.params, scaled, strict=True)}), want)
    close(backward(*[torch.tensor(v, dtype=torch.float64) for v in scaled]), want)
    # Per-neuron values: a tensor broadcast against x, each neuron its own value.
    per_neuron = [torch.full(xs.shape, v, dtype=torch.float64) for v in scaled]
    close(backward(*per_neuron), want)
    close(func.vmap(func.grad(m.spike))(xs, *per_neuron), want)


def test_broadcast_shape_and_no_gradient_for_spike_parameters(name):
    m, spec = mod(name), SPECS[name]
    if not spec.params:
        pytest.skip("no parameters")
    x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    first = torch.tensor(
        [[spec.params[0].default], [spec.params[0].default * 2]], dtype=torch.get_default_dtype()
    )
    first.requires_grad_()
    rest = [p.default for p in spec.params[1:]]
    out = m.spike(x, first, *rest)
    assert out.shape == (2, 5) and out.dtype == torch.float64
    assert m.grad(x, first, *rest).shape == (2, 5)
    if has_origin(name):
        assert m.origin(x, first, *rest).shape == (2, 5)
    out.sum().backward()
    assert first.grad is None  # no gradient for a parameter of spike
    want = mp_derivative(name, x, params=[first[0, 0].item(), *rest])
    want = want + mp_derivative(name, x, params=[first[1, 0].item(), *rest])
    close(x.grad, want)  # the broadcast gradient summed back to x's shape


def test_origin_parameter_derivative(name):
    """origin's Function gives tensor parameters their symbolic derivative."""
    m, spec = mod(name), SPECS[name]
    if not real_params(name) or not has_origin(name):
        pytest.skip("no real parameters, or no origin (a gradient-only family)")
    xs = points(name)[::8]
    ps = [
        torch.tensor(p, dtype=torch.float64, requires_grad=True) if i in real_params(name) else p
        for i, p in enumerate(defaults(name))
    ]
    m.origin(xs, *ps).sum().backward()
    for i, (p, t) in enumerate(zip(spec.params, ps, strict=True)):
        if i not in real_params(name):
            continue
        want = mp_derivative(name, xs, wrt=p.name).sum()
        np.testing.assert_allclose(t.grad.item(), want, rtol=1e-9, atol=1e-12)


def test_bad_arguments_raise_clear_errors():
    m = mod("sigmoid")
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor, got float"):
        m.spike(0.5)
    with pytest.raises(TypeError, match="alpha must be a real number or a tensor, got str"):
        m.grad(torch.zeros(3), "4")
    with pytest.raises(TypeError, match="alpha must be a real number or a tensor, got list"):
        m.Sigmoid(alpha=[1.0])
    with pytest.raises(ValueError, match="do not broadcast"):
        m.spike(torch.zeros(3), torch.ones(4))


# --- the nn.Module classes ----------------------------------------------------------------------


def test_module_classes(name):
    m, spec = mod(name), SPECS[name]
    cls = getattr(m, spec.class_name)
    xs = points(name)[:32]
    f = cls()
    assert isinstance(f, torch.nn.Module)
    assert torch.equal(f(xs), m.spike(xs))
    assert torch.equal(func.vmap(f)(xs.reshape(4, 8)), m.spike(xs).reshape(4, 8))
    for p in spec.params:
        assert getattr(f, p.name) == p.default
    flags = ["spiking=True"] if has_origin(name) else []  # a gradient-only family has no flag
    shown = ", ".join([*(f"{p.name}={p.default!r}" for p in spec.params), *flags])
    assert repr(f) == f"{spec.class_name}({shown})"
    if not has_origin(name):
        return
    smooth = cls(spiking=False)
    torch.testing.assert_close(smooth(xs), m.origin(xs), rtol=0, atol=0)
    x = xs.clone().requires_grad_()
    smooth(x).sum().backward()
    close(x.grad, mp_derivative(name, xs))


def test_module_tensor_parameters_are_buffers():
    m = mod("superspike")
    beta = torch.full((4,), 10.0)
    f = m.SuperSpike(beta=beta)
    assert "beta" in dict(f.named_buffers()) and "beta" in f.state_dict()
    assert f.to(torch.float64).beta.dtype == torch.float64
    assert "beta=tensor(shape=[4], dtype=torch.float64)" in repr(f)
    x = torch.linspace(-1, 1, 4, dtype=torch.float64, requires_grad=True)
    f(x).sum().backward()
    close(x.grad, mp_derivative("superspike", x, params=[10.0]))


def test_reserved_names_cover_every_public_module_attribute():
    """A spec parameter named like an nn.Module attribute would shadow it in the class."""
    from surrogen.generator.backends.torch import MODULE_ATTRIBUTES

    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")} | {"training"}
    assert public <= MODULE_ATTRIBUTES


def test_reexports():
    import surrogen.torch as gt

    for name, spec in SPECS.items():
        assert getattr(gt, name) is mod(name)
        assert getattr(gt, spec.class_name) is getattr(mod(name), spec.class_name)
    assert sorted(gt.NAMES) == sorted(SPECS)


def test_docstring_examples_run(name):
    result = doctest.testmod(mod(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6 and result.failed == 0


# --- a LIF layer: torch.compile, and BPTT against the JAX backend -------------------------------


def lif_loss(spike_fn, w, inputs, decay=0.9, threshold=1.0):
    """A current-based LIF layer unrolled over time; loss on the spike count."""
    v = torch.zeros(w.shape[1], dtype=w.dtype)
    count = torch.zeros_like(v)
    for x_t in inputs:
        v = decay * v + x_t @ w
        s = spike_fn(v - threshold)
        v = v * (1.0 - s.detach())
        count = count + s
    return ((count - 3.0) ** 2).sum()


def _weights(dtype=torch.float32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 4)) * 0.6, rng.uniform(size=(30, 5))


@pytest.mark.slow  # inductor builds C++ kernels (~15 s)
def test_torch_compile_fullgraph_lif_step_matches_eager():
    """One LIF step compiled with inductor (fullgraph: a graph break would raise) gives the same
    values and gradients as eager, per-neuron parameters included; special values too."""
    m = mod("superspike")
    torch._dynamo.reset()

    def step(v, x_t, w, beta):
        v = 0.9 * v + x_t @ w
        s = m.spike(v - 1.0, beta)
        return v * (1.0 - s.detach()), s

    w_np, inputs_np = _weights()
    w = torch.tensor(w_np, dtype=torch.float32)
    x_t = torch.tensor(inputs_np[:8] * 3, dtype=torch.float32)
    v0 = torch.tensor(np.linspace(-0.5, 1.5, 4), dtype=torch.float32).expand(8, 4).contiguous()
    beta = torch.linspace(5.0, 20.0, 4)
    compiled = torch.compile(step, fullgraph=True)
    results = []
    for fn in (step, compiled):
        ws = w.clone().requires_grad_()
        v, s = fn(v0, x_t, ws, beta)
        (v.sum() + (s * torch.arange(4.0)).sum()).backward()
        results.append((v.detach(), s.detach(), ws.grad))
    for eager, comp in zip(*results, strict=True):
        torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-6)
    assert results[0][2].abs().sum() > 0
    special = torch.tensor([-0.0, float("nan"), -1.4e-45, 1.4e-45, -1.0, float("inf")])
    assert torch.compile(m.spike, fullgraph=True)(special).tolist() == [1, 0, 0, 1, 0, 1]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_nan_in_gives_nan_out(name, dtype):
    """A NaN input gives a NaN origin, gradient and backward (a select on x < 0, as in the
    rectangular or sign-flip gradients, would give a number), and no spike."""
    m = mod(name)
    x = torch.tensor([float("nan"), -float("nan"), 0.25], dtype=dtype, requires_grad=True)
    fns = [m.grad, *([m.origin] if has_origin(name) else [])]
    for fn in fns:
        got = fn(x.detach())
        assert got.dtype == dtype
        assert torch.isnan(got[:2]).all() and torch.isfinite(got[2]), (fn.__name__, got)
    s = m.spike(x)
    assert s.tolist()[:2] == [0.0, 0.0]
    (gx,) = torch.autograd.grad(s.sum(), x)
    assert torch.isnan(gx[:2]).all() and torch.isfinite(gx[2])


@pytest.mark.parametrize("surrogate", ["superspike", "sigmoid", "piecewise_quadratic", "s2nn"])
def test_bptt_matches_the_jax_backend(surrogate):
    """The same LIF network, weights and inputs: gradients of the loss by BPTT through the
    torch spike equal those through the JAX spike (float64 on both sides)."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    jmod = importlib.import_module(f"surrogen.jax.{surrogate}")
    w_np, inputs_np = _weights()

    def jax_loss(w, inputs):
        def step(v, x_t):
            v = 0.9 * v + x_t @ w
            s = jmod.spike(v - 1.0)
            return v * (1.0 - jax.lax.stop_gradient(s)), s

        _, spikes = jax.lax.scan(step, jnp.zeros(w.shape[1], w.dtype), inputs)
        return jnp.sum((spikes.sum(0) - 3.0) ** 2)

    with jax.enable_x64(True):
        want = np.asarray(jax.grad(jax_loss)(jnp.asarray(w_np), jnp.asarray(inputs_np)))
    w = torch.tensor(w_np, dtype=torch.float64, requires_grad=True)
    lif_loss(mod(surrogate).spike, w, torch.tensor(inputs_np, dtype=torch.float64)).backward()
    assert np.all(np.isfinite(want)) and np.any(want != 0)
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-10, atol=1e-12)

"""surrogen.runtime.lif_torch: the fused LIF kernels as a ``torch.autograd.Function``, against an
unfused reference written here (a torch eager loop over time with the generated
``surrogen.torch.<name>.spike``, differentiated by torch's autograd) and the JAX ``lax.scan`` LIF
of tests/test_fused_lif.py."""

import importlib

import numpy as np
import pytest

from surrogen.runtime.lif import LIFConfig
from tests.reference import defaults

torch = pytest.importorskip("torch")
from surrogen.runtime.lif_torch import FusedLIFFunction, FusedLIFLayer, lif  # noqa: E402

SURROGATES = ["sigmoid", "arctan", "piecewise_quadratic"]
CONFIGS = {
    "soft-detached": LIFConfig(decay=0.9),
    "hard": LIFConfig(decay=0.8, v_threshold=1.0, v_reset=0.0, detach_reset=False),
    "soft": LIFConfig(decay=0.95, v_threshold=0.7, v_reset=None, detach_reset=False),
    "hard-detached": LIFConfig(decay=0.6, v_threshold=0.5, v_reset=-0.2, detach_reset=True),
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# float32: the surrogate gradients of the two backends differ by a few ulps and autograd sums
# the two paths into h in another order; float64 leaves only rounding.
TOL = {torch.float32: {"rtol": 2e-5, "atol": 1e-5}, torch.float64: {"rtol": 1e-11, "atol": 1e-12}}


def fused(name, cfg):
    return importlib.import_module(f"surrogen.numba_cpu.{name}").fused_lif(cfg, *defaults(name))


def eager_lif(x, cfg, name):
    """The unfused definition: one step at a time, the spike a ``surrogen.torch`` Function."""
    spike = importlib.import_module(f"surrogen.torch.{name}").spike
    if len(x) == 0:
        return x * 0, x * 0
    v, spikes, vs = torch.zeros_like(x[0]), [], []
    for x_t in x:
        h = cfg.decay * v + x_t
        s = spike(h - cfg.v_threshold, *defaults(name))
        r = s.detach() if cfg.detach_reset else s
        v = h - r * cfg.v_threshold if cfg.v_reset is None else h * (1 - r) + cfg.v_reset * r
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def data(seed, shape, dtype):
    gen = torch.Generator().manual_seed(seed)
    x = 0.4 + 0.8 * torch.randn(shape, generator=gen, dtype=torch.float64)
    gs, gv = torch.randn((2, *shape), generator=gen, dtype=torch.float64)
    return x.to(dtype), gs.to(dtype), gv.to(dtype)


def values_and_grad(fn, x, gs, gv):
    x = x.clone().requires_grad_()
    s, v = fn(x)
    (gx,) = torch.autograd.grad((s, v), x, (gs, gv))
    return s.detach(), v.detach(), gx


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS)
@pytest.mark.parametrize("name", SURROGATES)
def test_values_and_gradients_match_the_eager_loop(name, cfg, dtype):
    steps = {"sigmoid": 8, "arctan": 13, "piecewise_quadratic": 20}[name]
    x, gs, gv = data(steps, (steps, 3, 4), dtype)
    s, v, gx = values_and_grad(lambda u: lif(u, fused(name, cfg)), x, gs, gv)
    s_ref, v_ref, gx_ref = values_and_grad(lambda u: eager_lif(u, cfg, name), x, gs, gv)
    assert s.dtype == v.dtype == gx.dtype == dtype
    assert s.shape == v.shape == gx.shape == x.shape
    assert 0 < s.sum() < s.numel()  # both branches of the step are exercised
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
    torch.testing.assert_close(v, v_ref, **TOL[dtype])
    torch.testing.assert_close(gx, gx_ref, **TOL[dtype])
    assert gx.abs().sum() > 0


@pytest.mark.parametrize("name", SURROGATES)
def test_float64_matches_the_jax_scan(name):
    """The same check against the independent JAX reference of the NumPy kernel tests."""
    pytest.importorskip("jax")
    from tests.test_fused_lif import _reference

    cfg = CONFIGS["hard"]
    x, gs, gv = data(3, (12, 2, 5), torch.float64)
    s, v, gx = values_and_grad(lambda u: lif(u, fused(name, cfg)), x, gs, gv)
    s_ref, v_ref, gx_ref = _reference(name, x.numpy(), gs.numpy(), gv.numpy(), cfg)
    np.testing.assert_array_equal(s.numpy(), s_ref)
    np.testing.assert_allclose(v.numpy(), v_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx.numpy(), gx_ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("output", ["spikes", "v"])
def test_loss_backward_through_one_output(output):
    """``loss.backward()`` where only one output is used: the other's gradient is zero; the
    incoming gradient is an expanded tensor (from ``sum``)."""
    cfg = CONFIGS["soft"]
    x, _, _ = data(5, (10, 6), torch.float64)
    grads = []
    for fn in (lambda u: lif(u, fused("sigmoid", cfg)), lambda u: eager_lif(u, cfg, "sigmoid")):
        u = x.clone().requires_grad_()
        s, v = fn(u)
        ((s if output == "spikes" else v) * torch.arange(6.0, dtype=u.dtype)).sum().backward()
        grads.append(u.grad)
    torch.testing.assert_close(grads[0], grads[1], **TOL[torch.float64])
    assert grads[0].abs().sum() > 0


def test_each_call_keeps_its_own_state():
    """Two forwards through one FusedLIF, backwards in reverse order: each gets its own
    gradient (the NumPy API's ``forward``/``backward`` keep the last call only)."""
    layer = fused("arctan", CONFIGS["hard"])
    (x1, gs1, gv1), (x2, gs2, gv2) = data(1, (9, 7), torch.float64), data(2, (9, 7), torch.float64)
    a, b = x1.clone().requires_grad_(), x2.clone().requires_grad_()
    out_a, out_b = lif(a, layer), lif(b, layer)
    layer.forward(np.zeros((3, 2)))  # the stateful NumPy API in between changes nothing
    torch.autograd.backward(out_b, (gs2, gv2))
    torch.autograd.backward(out_a, (gs1, gv1))
    for u, (x, gs, gv) in ((a, (x1, gs1, gv1)), (b, (x2, gs2, gv2))):
        _, _, want = values_and_grad(lambda w: eager_lif(w, CONFIGS["hard"], "arctan"), x, gs, gv)
        torch.testing.assert_close(u.grad, want, **TOL[torch.float64])


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x[:, 0],  # (T,): one neuron
        lambda x: x[:1],  # T = 1
        lambda x: x.transpose(1, 2),  # not contiguous
        lambda x: x[:, :, :0],  # no neurons
        lambda x: x[:0],  # no time steps
    ],
    ids=["one-neuron", "one-step", "strided", "no-neurons", "no-steps"],
)
def test_shapes_and_strides(make):
    cfg = CONFIGS["soft-detached"]
    x, gs, gv = (make(a) for a in data(4, (8, 3, 5), torch.float64))
    s, v, gx = values_and_grad(lambda u: lif(u, fused("sigmoid", cfg)), x, gs, gv)
    s_ref, v_ref, gx_ref = values_and_grad(lambda u: eager_lif(u, cfg, "sigmoid"), x, gs, gv)
    assert s.shape == gx.shape == x.shape
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
    torch.testing.assert_close(v, v_ref, **TOL[torch.float64])
    torch.testing.assert_close(gx, gx_ref, **TOL[torch.float64])


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES)
def test_finite_where_the_reference_is_finite(dtype):
    """Large, tiny and zero currents: no NaN or inf the unfused loop does not have."""
    cfg = CONFIGS["hard"]
    big = torch.finfo(dtype).max / 1e3
    x = torch.tensor([[0.0, 1e-30, -1e-30, big, -big, 1.0, 1e4, -1e4]] * 12, dtype=dtype)
    gs, gv = torch.ones_like(x), torch.full_like(x, 0.5)
    for name in SURROGATES:
        s, v, gx = values_and_grad(lambda u, n=name: lif(u, fused(n, cfg)), x, gs, gv)
        s_ref, v_ref, gx_ref = values_and_grad(lambda u, n=name: eager_lif(u, cfg, n), x, gs, gv)
        for got, want in ((s, s_ref), (v, v_ref), (gx, gx_ref)):
            assert torch.equal(torch.isfinite(got), torch.isfinite(want)), name
        assert torch.isfinite(gx).all()
        torch.testing.assert_close(gx, gx_ref, **TOL[dtype])


def test_the_method_and_the_module_are_lif():
    cfg = CONFIGS["hard-detached"]
    layer = fused("piecewise_quadratic", cfg)
    module = FusedLIFLayer(fused_cpu=layer)
    x, gs, gv = data(6, (8, 4), torch.float32)
    want = values_and_grad(lambda u: lif(u, layer), x, gs, gv)
    for fn in (layer.torch, module, lambda u: FusedLIFFunction.apply(u, layer)):
        for got, ref in zip(values_and_grad(fn, x, gs, gv), want, strict=True):
            torch.testing.assert_close(got, ref, rtol=0, atol=0)
    assert "v_reset=-0.2" in repr(module) and "devices=['cpu']" in repr(module)
    assert list(module.parameters()) == [] and module.state_dict() == {}


# Dynamo (torch 2.13) reads .grad of the non-leaf tensors that cross any graph break, warning.
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_torch_compile_breaks_the_graph_and_keeps_the_values():
    """A compiled function around ``lif`` runs it eagerly between two graphs: same values and
    gradients as eager; ``fullgraph=True`` raises and says why."""
    torch._dynamo.reset()
    layer = fused("sigmoid", CONFIGS["soft"])

    def net(x, w):
        s, v = lif(torch.tanh(x) * w, layer)
        return (s * 2.0).sum() + (v**2).mean()

    x, _, _ = data(8, (10, 3, 4), torch.float32)
    results = []
    for fn in (net, torch.compile(net, backend="aot_eager")):
        w = torch.full((4,), 1.5, requires_grad=True)
        loss = fn(x, w)
        loss.backward()
        results.append((loss.detach(), w.grad))
    for eager, compiled in zip(*results, strict=True):
        torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)
    assert results[0][1].abs().sum() > 0
    with pytest.raises(Exception, match="Numba kernels"):
        torch.compile(net, backend="eager", fullgraph=True)(x, torch.ones(4))


def test_errors():
    layer = fused("sigmoid", CONFIGS["soft"])
    x = torch.zeros(4, 3)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor, got ndarray"):
        lif(np.zeros((4, 3)), layer)
    for dtype in (torch.float16, torch.bfloat16, torch.int64, torch.complex64):
        with pytest.raises(TypeError, match=rf"float32 or float64, got {dtype}"):
            lif(x.to(dtype), layer)
    with pytest.raises(ValueError, match="time axis"):
        lif(torch.tensor(1.0), layer)
    with pytest.raises(TypeError, match=r"fused must be a FusedLIF .* got LIFConfig"):
        lif(x, CONFIGS["soft"])
    with pytest.raises(TypeError, match="fused must be a FusedLIF"):
        FusedLIFLayer(fused_cpu=object())
    with pytest.raises(ValueError, match="needs fused_cpu, fused_cuda or both"):
        FusedLIFLayer()
    with pytest.raises(TypeError, match="no kernel for cpu tensors"):
        FusedLIFLayer(fused_cuda=_cuda_fused())(x)
    # the backward is not differentiable again
    u, w = x.clone().requires_grad_(), torch.ones(3, requires_grad=True)
    (g,) = torch.autograd.grad((lif(u, layer)[1] * w).sum(), u, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def _cuda_fused(name="sigmoid", cfg=CONFIGS["soft"]):
    pytest.importorskip("numba.cuda")
    module = importlib.import_module(f"surrogen.numba_cuda.{name}")
    return module.fused_lif(cfg, *defaults(name))


def test_device_mismatch_is_a_type_error():
    cpu_layer, cuda_layer = fused("sigmoid", CONFIGS["soft"]), _cuda_fused()
    message = r"x is on cpu but fused is a Numba CUDA FusedLIF: use surrogen\.numba_cpu\."
    with pytest.raises(TypeError, match=message):
        lif(torch.zeros(3, 2), cuda_layer)
    with pytest.raises(TypeError, match="fused_cpu must be a Numba CPU FusedLIF"):
        FusedLIFLayer(fused_cpu=cuda_layer)
    other = _cuda_fused(cfg=CONFIGS["hard"])
    with pytest.raises(ValueError, match="same config and parameters"):
        FusedLIFLayer(cpu_layer, other)
    if torch.cuda.is_available():
        with pytest.raises(TypeError, match=r"x is on cuda:0 but fused is a Numba CPU"):
            lif(torch.zeros(3, 2, device="cuda"), cpu_layer)


def test_kernels_on_caller_buffers_check_them():
    """``forward_into``/``backward_into``, which lif_torch calls, refuse what the kernels would
    misread."""
    layer = fused("sigmoid", CONFIGS["soft"])
    x = np.zeros((4, 3))
    bufs = [np.empty_like(x) for _ in range(3)]
    with pytest.raises(TypeError, match="x must be float32 or float64, got int64"):
        layer.forward_into(x.astype(np.int64), *bufs)
    with pytest.raises(TypeError, match="v must be a NumPy array of float64, got float32"):
        layer.forward_into(x, bufs[0], bufs[1].astype(np.float32), bufs[2])
    with pytest.raises(ValueError, match=r"x must be C-contiguous of shape \(T, N\)"):
        layer.forward_into(np.zeros(4), *(np.empty(4) for _ in range(3)))
    with pytest.raises(ValueError, match=r"h must be C-contiguous of shape \(4, 3\)"):
        layer.forward_into(x, bufs[0], bufs[1], np.empty((3, 4)).T)
    with pytest.raises(ValueError, match=r"grad_x must be C-contiguous of shape \(4, 3\)"):
        layer.backward_into(x, x, x, x, np.empty((4, 4)))


@pytest.mark.cuda
def test_cuda_kernels_on_caller_buffers():
    """The CUDA ``forward_into``/``backward_into`` (Numba's simulator without a GPU) give what
    the NumPy API gives, on a given stream; host arrays are refused."""
    from numba import cuda

    cfg = CONFIGS["hard"]
    cpu_layer, gpu_layer = fused("sigmoid", cfg), _cuda_fused(cfg=cfg)
    x, gs, gv = (a.numpy() for a in data(9, (6, 5), torch.float64))
    s_ref, v_ref = cpu_layer.forward(x)
    gx_ref = cpu_layer.backward(gs, gv)
    stream = cuda.stream()
    xd, gsd, gvd = (cuda.to_device(a, stream=stream) for a in (x, gs, gv))
    s, v, h, gx = (cuda.device_array(x.shape, x.dtype, stream=stream) for _ in range(4))
    gpu_layer.forward_into(xd, s, v, h, stream=stream)
    gpu_layer.backward_into(h, s, gsd, gvd, gx, stream=stream)
    stream.synchronize()
    np.testing.assert_array_equal(s.copy_to_host(), s_ref)
    np.testing.assert_allclose(v.copy_to_host(), v_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx.copy_to_host(), gx_ref, rtol=1e-9, atol=1e-12)
    with pytest.raises(TypeError, match="spikes must be a device array, got ndarray"):
        gpu_layer.forward_into(xd, x, v, h)
    with pytest.raises(TypeError, match="x must be float32 or float64, got int64"):
        gpu_layer.forward_into(cuda.to_device(x.astype(np.int64)), s, v, h)
    with pytest.raises(TypeError, match="grad_v must be of dtype float64, got float32"):
        gpu_layer.backward_into(h, s, gsd, cuda.to_device(gv.astype(np.float32)), gx)
    with pytest.raises(ValueError, match=r"h must be of shape \(6, 5\), got \(5, 6\)"):
        gpu_layer.forward_into(xd, s, v, cuda.device_array((5, 6)))


def _real_gpu():
    from numba import config

    return torch.cuda.is_available() and not getattr(config, "ENABLE_CUDASIM", 0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device for torch")
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES)
def test_cuda_tensors_match_the_cpu(dtype):
    """CUDA tensors through the Numba CUDA kernels (no copies), on a side stream too, give the
    CPU kernels' values and gradients; under the simulator they are refused with a clear error."""
    cfg = CONFIGS["hard"]
    x, gs, gv = data(11, (20, 4, 33), dtype)
    gpu_layer = _cuda_fused("arctan", cfg)
    if not _real_gpu():
        with pytest.raises(RuntimeError, match="simulator"):
            lif(x.cuda(), gpu_layer)
        return
    want = values_and_grad(lambda u: lif(u, fused("arctan", cfg)), x, gs, gv)
    module = FusedLIFLayer(fused("arctan", cfg), gpu_layer)
    side = torch.cuda.Stream()
    for fn in (lambda u: lif(u, gpu_layer), module):
        with torch.cuda.stream(side):
            got = values_and_grad(fn, x.cuda(), gs.cuda(), gv.cuda())
        torch.cuda.synchronize()
        for g, w in zip(got, want, strict=True):
            assert g.device.type == "cuda" and g.dtype == dtype
            torch.testing.assert_close(g.cpu(), w, **TOL[dtype])

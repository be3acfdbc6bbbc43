"""Fused multi-step LIF kernels (Numba CPU and CUDA) against an unfused reference: a JAX
``lax.scan`` LIF with the same generated surrogate, differentiated by JAX (float64)."""

import importlib

import numpy as np
import pytest

from surrogen.runtime.lif import LIFConfig
from tests.reference import SPEC_NAMES, SPECS, defaults

jax = pytest.importorskip("jax")
jnp = jax.numpy

CONFIGS = [
    LIFConfig(decay=0.9),  # soft reset, detached
    LIFConfig(decay=0.8, v_threshold=1.0, v_reset=0.0, detach_reset=False),
    LIFConfig(decay=0.95, v_threshold=0.7, v_reset=None, detach_reset=False),
    LIFConfig(decay=0.6, v_threshold=0.5, v_reset=-0.2, detach_reset=True),
]


def _jax_lif(x, cfg, spike):
    """The unfused definition, written independently of the kernels."""

    def step(v, xt):
        h = cfg.decay * v + xt
        s = spike(h - cfg.v_threshold)
        r = jax.lax.stop_gradient(s) if cfg.detach_reset else s
        v = h - r * cfg.v_threshold if cfg.v_reset is None else h * (1 - r) + cfg.v_reset * r
        return v, (s, v)

    _, (s, v) = jax.lax.scan(step, jnp.zeros(x.shape[1:], x.dtype), x)
    return s, v


def _reference(name, x, gs, gv, cfg):
    spike = importlib.import_module(f"surrogen.jax.{name}").spike
    params = defaults(name)
    with jax.enable_x64(True):
        (s, v), vjp = jax.vjp(lambda u: _jax_lif(u, cfg, lambda z: spike(z, *params)), x)
        (gx,) = vjp((jnp.asarray(gs), jnp.asarray(gv)))
        return np.asarray(s), np.asarray(v), np.asarray(gx)


def _data(seed, shape=(16, 3, 5)):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.4, 0.8, shape)
    return x, rng.normal(size=shape), rng.normal(size=shape)


# One spec per reset configuration in the default suite (each compiles its own kernel, about
# 5 s); every other spec in the slow group (make test-slow).
FAST_FUSED = {"arctan", "circ", "superspike", "piecewise_quadratic"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in FAST_FUSED else pytest.mark.slow) for n in SPEC_NAMES]
)
def test_cpu_fused_lif_matches_the_jax_scan(name):
    """Each spec with one of the four reset configurations, in turn (each configuration is
    compiled into its own kernel, about 6 s each: all 4 x 23 would take minutes). The reset code
    does not depend on the surrogate, nor the spliced surrogate on the reset: every configuration
    still runs with several surrogates, and every surrogate once."""
    cfg = CONFIGS[sorted(SPECS).index(name) % len(CONFIGS)]
    x, gs, gv = _data(len(name))
    s_ref, v_ref, gx_ref = _reference(name, x, gs, gv, cfg)
    layer = importlib.import_module(f"surrogen.numba_cpu.{name}").fused_lif(cfg, *defaults(name))
    s, v = layer.forward(x)
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(gs, gv), gx_ref, rtol=1e-9, atol=1e-12)
    # float32 keeps its dtype; spikes agree except where h lies within rounding of the threshold
    s32, v32 = layer.forward(x.astype(np.float32))
    assert s32.dtype == v32.dtype == np.float32
    assert layer.backward(gs.astype(np.float32)).dtype == np.float32


def test_block_size_splits_the_neurons_evenly_within_bounds():
    from surrogen.runtime.lif_cpu import MAX_BLOCK, MIN_BLOCK, block_size

    assert (MIN_BLOCK, MAX_BLOCK) == (256, 4096)
    assert block_size(64 * 512, threads=2) == 4096  # 8 blocks of 4096: the benchmark's layer
    assert block_size(549, threads=2) == 320  # ceil(549 / 2) = 275, up to a multiple of 64
    assert block_size(100, threads=8) == 256
    assert block_size(10**6, threads=16) == 4096
    assert block_size(549) >= 256  # Numba's thread count


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[1]], ids=["soft-detached", "hard"])
def test_cpu_fused_lif_across_several_blocks(cfg, monkeypatch):
    """Neurons split into blocks of 256 with a partial last one (549 = 2 * 256 + 37): every block
    starts from a zero membrane and its own backward state, and the hard reset's spikes, which
    the backward recomputes from h, match the reference."""
    import surrogen.runtime.lif_cpu as lif_cpu

    monkeypatch.setattr(lif_cpu, "block_size", lambda neurons: 256)
    name = "piecewise_quadratic"
    x, gs, gv = _data(3, (6, 549))
    x[::2, ::3] = 1.0 + 0.5 * x[::2, ::3] ** 2  # enough spikes in every block
    s_ref, v_ref, gx_ref = _reference(name, x, gs, gv, cfg)
    layer = importlib.import_module(f"surrogen.numba_cpu.{name}").fused_lif(cfg, *defaults(name))
    s, v = layer.forward(x)
    assert 0.1 < s.mean() < 0.9
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(gs, gv), gx_ref, rtol=1e-9, atol=1e-12)


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["sigmoid", "superspike", "piecewise_quadratic"])
def test_cuda_fused_lif_matches_the_jax_scan(name):
    from numba import cuda

    cfg = CONFIGS[1]
    x, gs, gv = _data(7, (12, 2, 3))
    s_ref, v_ref, gx_ref = _reference(name, x, gs, gv, cfg)
    layer = importlib.import_module(f"surrogen.numba_cuda.{name}").fused_lif(cfg, *defaults(name))
    s, v = layer.forward(x)
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(gs, gv), gx_ref, rtol=1e-9, atol=1e-12)
    # device arrays in, device arrays out
    sd, _ = layer.forward(cuda.to_device(x))
    np.testing.assert_array_equal(sd.copy_to_host(), s_ref)
    gxd = layer.backward(cuda.to_device(gs), cuda.to_device(gv))
    np.testing.assert_allclose(gxd.copy_to_host(), gx_ref, rtol=1e-9, atol=1e-12)


def test_fused_lif_errors():
    layer = importlib.import_module("surrogen.numba_cpu.sigmoid").fused_lif()
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="float32 or float64"):
        layer.forward(np.zeros((2, 2), np.int64))
    layer.forward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="decay"):
        LIFConfig(decay=1.5)


def test_every_spec_has_a_fused_lif():
    for name in SPECS:
        assert callable(importlib.import_module(f"surrogen.numba_cpu.{name}").fused_lif)

"""Fused multi-step LIF (forward + BPTT backward) against the unfused JAX ``lax.scan`` LIF, and in
PyTorch against an eager loop over time.

    python benchmarks/bench_lif.py [--steps 100 --batch 64 --neurons 512] [--no-torch] [--out FILE]

Every side gets the same input currents (the matmul is excluded) and the same incoming gradients,
and times forward + backward. The sides take turns in each of ``--repeat`` rounds after warm-up
(all see the same machine load); a row shows medians. "speedup" = JAX time / fused time (> 1: the
fused kernel is faster). The torch columns: an eager loop over time with ``surrogen.torch``'s
spike, differentiated by autograd, against the fused kernels through
``surrogen.runtime.lif_torch.lif`` (CPU tensors); "speedup" = eager / fused, and "vs numpy" =
torch fused / NumPy fused (the autograd Function's overhead; 1 = none). Results are a table on
stdout (and in ``--out``), never a test assertion.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def _jax_lif_step(cfg, spike):
    import jax
    import jax.numpy as jnp

    def run(x, gs, gv):
        def step(v, xt):
            h = cfg.decay * v + xt
            s = spike(h - cfg.v_threshold)
            r = jax.lax.stop_gradient(s) if cfg.detach_reset else s
            v = h - r * cfg.v_threshold if cfg.v_reset is None else h * (1 - r) + cfg.v_reset * r
            return v, (s, v)

        def lif(u):
            _, out = jax.lax.scan(step, jnp.zeros(u.shape[1:], u.dtype), u)
            return out

        out, vjp = jax.vjp(lif, x)
        return out, vjp((gs, gv))[0]

    return jax.jit(run)


def _torch_eager_lif(cfg, spike):
    """The unfused LIF in eager PyTorch: one step at a time, autograd through ``spike``."""
    import torch

    def run(x, gs, gv):
        x = x.detach().requires_grad_()
        v, spikes, vs = torch.zeros_like(x[0]), [], []
        for x_t in x:
            h = cfg.decay * v + x_t
            s = spike(h - cfg.v_threshold)
            r = s.detach() if cfg.detach_reset else s
            v = h - r * cfg.v_threshold if cfg.v_reset is None else h * (1 - r) + cfg.v_reset * r
            spikes.append(s)
            vs.append(v)
        return torch.autograd.grad((torch.stack(spikes), torch.stack(vs)), x, (gs, gv))[0]

    return run


def _torch_fused_lif(layer):
    import torch

    from surrogen.runtime.lif_torch import lif

    def run(x, gs, gv):
        x = x.detach().requires_grad_()
        return torch.autograd.grad(lif(x, layer), x, (gs, gv))[0]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--neurons", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--surrogates",
        nargs="*",
        default=["sigmoid", "superspike", "piecewise_quadratic", "gaussian"],
    )
    parser.add_argument("--no-torch", action="store_true", help="leave out the torch columns")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import jax

    from surrogen.runtime.lif import LIFConfig

    cfg = LIFConfig(decay=0.9, v_threshold=1.0, v_reset=None, detach_reset=True)
    shape = (args.steps, args.batch, args.neurons)
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.6, shape).astype(np.float32)
    gs, gv = (rng.normal(size=shape).astype(np.float32) for _ in range(2))
    versions = f"jax {jax.__version__}"
    header = f"{'surrogate':22} {'jax scan ms':>12} {'fused ms':>10} {'speedup':>8}"
    if not args.no_torch:
        import torch

        xt, gst, gvt = (torch.from_numpy(a) for a in (x, gs, gv))
        versions += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
        header += f" {'torch eager ms':>15} {'torch fused ms':>15} {'speedup':>8} {'vs numpy':>9}"
    lines = [
        f"fused LIF vs JAX lax.scan LIF, forward + backward, float32, (T, batch, N) = {shape}",
        f"host: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f};"
        f" {versions}; medians of {args.repeat} interleaved rounds",
        header,
    ]
    print("\n".join(lines), flush=True)
    for name in args.surrogates:
        jmod = importlib.import_module(f"surrogen.jax.{name}")
        cmod = importlib.import_module(f"surrogen.numba_cpu.{name}")
        run = _jax_lif_step(cfg, jmod.spike)
        layer = cmod.fused_lif(cfg)

        def jax_once(run=run) -> None:
            _, gx = run(x, gs, gv)
            gx.block_until_ready()

        def fused_once(layer=layer) -> None:
            layer.forward(x)
            layer.backward(gs, gv)

        sides = [jax_once, fused_once]
        if not args.no_torch:
            eager = _torch_eager_lif(cfg, importlib.import_module(f"surrogen.torch.{name}").spike)
            fused = _torch_fused_lif(layer)
            sides += [lambda f=eager: f(xt, gst, gvt), lambda f=fused: f(xt, gst, gvt)]
        for _ in range(2):  # compile and warm up
            for side in sides:
                side()
        times: list[list[float]] = [[] for _ in sides]
        for _ in range(args.repeat):  # interleaved: every side sees the same machine load
            for side, record in zip(sides, times, strict=True):
                start = time.perf_counter()
                side()
                record.append(time.perf_counter() - start)
        ms = [statistics.median(t) * 1e3 for t in times]
        line = f"{name:22} {ms[0]:12.1f} {ms[1]:10.1f} {ms[0] / ms[1]:8.2f}"
        if not args.no_torch:
            line += f" {ms[2]:15.1f} {ms[3]:15.1f} {ms[2] / ms[3]:8.2f} {ms[3] / ms[1]:9.2f}"
        print(line, flush=True)
        lines.append(line)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

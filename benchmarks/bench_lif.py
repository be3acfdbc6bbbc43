"""Fused multi-step LIF (forward + BPTT backward) against the unfused JAX ``lax.scan`` LIF.

    python benchmarks/bench_lif.py [--steps 100 --batch 64 --neurons 512] [--out FILE]

Both sides get the same input currents (the matmul is excluded) and the same incoming gradients,
and time forward + backward; each row is timed interleaved with the JAX baseline, median of
``--repeat`` runs after warm-up. "speedup" = JAX time / fused time (> 1: the fused kernel is
faster). Results are a table on stdout (and in ``--out``), never a test assertion.
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
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import jax

    from surrogen.runtime.lif import LIFConfig

    cfg = LIFConfig(decay=0.9, v_threshold=1.0, v_reset=None, detach_reset=True)
    shape = (args.steps, args.batch, args.neurons)
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.6, shape).astype(np.float32)
    gs, gv = (rng.normal(size=shape).astype(np.float32) for _ in range(2))
    lines = [
        f"fused LIF vs JAX lax.scan LIF, forward + backward, float32, (T, batch, N) = {shape}",
        f"host: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f};"
        f" jax {jax.__version__}",
        f"{'surrogate':22} {'jax scan ms':>12} {'fused ms':>10} {'speedup':>8}",
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

        jax_once(), fused_once(), jax_once(), fused_once()  # compile and warm up
        tj, tf = [], []
        for _ in range(args.repeat):  # interleaved: both see the same machine load
            start = time.perf_counter()
            jax_once()
            tj.append(time.perf_counter() - start)
            start = time.perf_counter()
            fused_once()
            tf.append(time.perf_counter() - start)
        mj, mf = statistics.median(tj) * 1e3, statistics.median(tf) * 1e3
        line = f"{name:22} {mj:12.1f} {mf:10.1f} {mj / mf:8.2f}"
        print(line, flush=True)
        lines.append(line)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

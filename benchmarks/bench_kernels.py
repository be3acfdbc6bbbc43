"""Throughput of the generated surrogate-gradient kernels, against baselines in the same run.

    python benchmarks/bench_kernels.py            # CPU: NumPy baseline, Numba CPU ufunc, JAX jit
    python benchmarks/bench_kernels.py --gpu      # adds Numba CUDA kernels vs CuPy (needs a GPU)

Prints one table; "ratio" is baseline time / backend time on the same device (> 1: faster than
the baseline). The baseline is the backward g * grad(x) written as libraries write it, evaluated
with NumPy (or CuPy on the GPU).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

# The gradient formulas as the libraries publish them (catalog), written for an array module xp.
BASELINES: dict[str, tuple[tuple[float, ...], Callable]] = {
    "sigmoid": ((4.0,), lambda xp, x, a: a * xp.exp(-a * x) / (1 + xp.exp(-a * x)) ** 2),
    "superspike": ((20.0,), lambda xp, x, b: 1 / (1 + b * xp.abs(x)) ** 2),
    "piecewise_quadratic": ((1.0,), lambda xp, x, a: xp.maximum(0, a - a * a * xp.abs(x))),
    "gaussian": ((1.0,), lambda xp, x, a: a / np.sqrt(np.pi) * xp.exp(-((a * x) ** 2))),
}


def timeit(
    fn: Callable[[], object], sync: Callable[[], object] = lambda: None, repeat: int = 15
) -> float:
    """Median wall time in ms over ``repeat`` runs after two warm-ups."""
    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def rows_for(
    name: str, params: tuple[float, ...], formula: Callable, x, g, gpu: bool
) -> list[tuple]:
    """Time one surrogate's backward (g * grad) on every backend, with its baselines."""
    import jax

    import surrogen.jax as gj
    import surrogen.numba_cpu as gc

    rows = []
    base = timeit(lambda: g * formula(np, x, *params))
    rows.append((name, "numpy (baseline)", "cpu", base, 1.0))
    cpu = getattr(gc, name)
    t = timeit(lambda: cpu.spike_bwd(x, g, *params))
    rows.append((name, "numba_cpu spike_bwd", "cpu", t, base / t))
    jmod = getattr(gj, name)
    bwd = jax.jit(lambda v, w: w * jmod.grad(v, *params))
    host = jax.devices("cpu")[0]
    xj, gj_ = jax.device_put(x, host), jax.device_put(g, host)
    t = timeit(lambda: bwd(xj, gj_).block_until_ready())
    rows.append((name, "jax jit (cpu)", "cpu", t, base / t))
    if not gpu:
        return rows
    import cupy as cp
    from numba import cuda

    import surrogen.numba_cuda as gk

    xd, gd = cp.asarray(x), cp.asarray(g)
    gbase = timeit(lambda: gd * formula(cp, xd, *params), cp.cuda.Device().synchronize)
    rows.append((name, "cupy (gpu baseline)", "gpu", gbase, 1.0))
    kmod = getattr(gk, name)
    nx, ng = cuda.as_cuda_array(xd), cuda.as_cuda_array(gd)
    t = timeit(lambda: kmod.spike_bwd(nx, ng, *params), cuda.synchronize)
    rows.append((name, "numba_cuda spike_bwd", "gpu", t, gbase / t))
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if gpus:
        xg, gg = jax.device_put(x, gpus[0]), jax.device_put(g, gpus[0])
        t = timeit(lambda: bwd(xg, gg).block_until_ready())
        rows.append((name, "jax jit (gpu)", "gpu", t, gbase / t))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 22, help="elements (float32)")
    parser.add_argument("--gpu", action="store_true", help="also time the CUDA kernels")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1.5, args.n).astype(np.float32)
    g = np.ones_like(x)
    rows = []
    for name, (params, formula) in BASELINES.items():
        rows += rows_for(name, params, formula, x, g, args.gpu)
    print(
        f"n = {args.n} float32 elements; median of 15 runs; ratio = baseline / time (same device)"
    )
    print(f"{'surrogate':<20} {'backend':<22} {'device':<6} {'ms':>9} {'ratio':>7}")
    for name, backend, device, ms, ratio in rows:
        print(f"{name:<20} {backend:<22} {device:<6} {ms:9.3f} {ratio:7.2f}")


if __name__ == "__main__":
    main()

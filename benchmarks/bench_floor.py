"""Numba CPU kernels against the memory floor, for every generated surrogate.

    python benchmarks/bench_floor.py [--n 16777216] [--repeat 9] [--out FILE]

The floor is a Numba ``prange`` kernel that reads x and g and writes ``x * g`` into a preallocated
output (12 bytes per float32 element, the traffic of the backward ``g * grad(x)``), on all the
CPU's threads. Every surrogate's ``spike_bwd(x, g, *defaults)`` is timed with ``out=`` (same
traffic as the floor) and allocating its result, against NumPy's allocating ``np.multiply(x, g)``
(the same allocation cost); ``spike(x, out=)`` against the floor of the forward (a ``prange``
copy, 8 bytes per element). The sides take turns in each round (all see the same machine load);
a row shows medians. "% of floor" = floor time / kernel time (100: at the floor); "vs multiply"
= np.multiply time / allocating spike_bwd time (>= 1: no slower than NumPy). The ufuncs run on
one thread, the floor kernels on all: on a 2-core machine a one-thread kernel at the memory
bandwidth reads about 50-100%, depending on how much of the bandwidth one core can draw. A table
on stdout (and in ``--out``), never a test assertion.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@numba.njit(parallel=True)
def floor_bwd(x, g, out):  # type: ignore[no-untyped-def]
    for i in numba.prange(x.size):
        out[i] = x[i] * g[i]


@numba.njit(parallel=True)
def floor_fwd(x, out):  # type: ignore[no-untyped-def]
    for i in numba.prange(x.size):
        out[i] = x[i]


def medians(sides: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median ms per side over ``repeat`` interleaved rounds, after one warm-up round."""
    for side in sides.values():
        side()
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(repeat):
        for label, side in sides.items():
            start = time.perf_counter()
            side()
            times[label].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 24)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--surrogates", nargs="*")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from surrogen.generator.spec import load_specs

    names = args.surrogates or sorted(s.name for s in load_specs(ROOT / "specs"))
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 2.0, args.n).astype(np.float32)
    g = rng.normal(size=args.n).astype(np.float32)
    out = np.empty_like(x)
    lines = [
        f"Numba CPU kernels against the memory floor, float32, N = {args.n}",
        f"host: {platform.machine()}, {os.cpu_count()} CPUs ({numba.get_num_threads()} Numba"
        f" threads for the floor), load {os.getloadavg()[0]:.1f}; numba {numba.__version__},"
        f" numpy {np.__version__}; medians of {args.repeat} interleaved rounds",
        f"{'surrogate':26} {'floor ms':>9} {'bwd out= ms':>12} {'% of floor':>11}"
        f" {'multiply ms':>12} {'bwd alloc ms':>13} {'vs multiply':>12}"
        f" {'fwd floor ms':>13} {'spike out= ms':>14} {'% of floor':>11}",
    ]
    print("\n".join(lines), flush=True)
    for name in names:
        m = importlib.import_module(f"surrogen.numba_cpu.{name}")
        params = tuple(np.float32(v) for v in m.DEFAULTS.values())
        ms = medians(
            {
                "floor": lambda: floor_bwd(x, g, out),
                "bwd_out": lambda m=m, p=params: m.spike_bwd(x, g, *p, out=out),
                "multiply": lambda: np.multiply(x, g),
                "bwd_alloc": lambda m=m, p=params: m.spike_bwd(x, g, *p),
                "fwd_floor": lambda: floor_fwd(x, out),
                "spike": lambda m=m: m.spike(x, out=out),
            },
            args.repeat,
        )
        line = (
            f"{name:26} {ms['floor']:9.2f} {ms['bwd_out']:12.2f}"
            f" {100 * ms['floor'] / ms['bwd_out']:10.0f}% {ms['multiply']:12.2f}"
            f" {ms['bwd_alloc']:13.2f} {ms['multiply'] / ms['bwd_alloc']:12.2f}"
            f" {ms['fwd_floor']:13.2f} {ms['spike']:14.2f}"
            f" {100 * ms['fwd_floor'] / ms['spike']:10.0f}%"
        )
        print(line, flush=True)
        lines.append(line)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

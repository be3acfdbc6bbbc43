"""JAX on the CPU against the memory floor and a trivial jitted kernel, with and without huge pages.

    python benchmarks/bench_jax_floor.py [--n 16777216] [--repeat 9] [--out FILE]

For every generated surrogate, the jitted backward ``g * grad(x)`` (a fresh output each call, as in
training) is timed against a trivial jitted kernel of the same access pattern (``g * x``) and
against the memory floor (a Numba ``prange`` kernel writing ``x * g`` into a preallocated output).
The sides take turns in each round; a row shows medians. "vs trivial" = surrogen time / trivial
time (1: the surrogate costs nothing beyond the memory traffic XLA makes anyway); "% of floor" =
floor time / surrogen time.

The table is measured twice, in two child processes: with the default allocator, and with
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, which makes glibc's malloc ask for transparent huge
pages (where the kernel's setting is ``madvise``). XLA:CPU allocates every output afresh, and
with 4 KiB pages each call page-faults through it; with huge pages the faults are 512 times
fewer. A table on stdout (and in ``--out``), never a test assertion.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUGEPAGES = "glibc.malloc.hugetlb=1"


def child(n: int, repeat: int) -> list[str]:
    """One table in this process (its allocator settings are the ones it started with)."""
    import importlib

    import jax
    import numba
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from surrogen.generator.spec import load_specs

    @numba.njit(parallel=True)
    def floor(x, g, out):  # type: ignore[no-untyped-def]
        for i in numba.prange(x.size):
            out[i] = x[i] * g[i]

    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 2.0, n).astype(np.float32)
    g = rng.normal(size=n).astype(np.float32)
    out = np.empty_like(x)
    xj, gj = jax.device_put(x), jax.device_put(g)
    trivial = jax.jit(lambda v, w: w * v)
    rows = []
    for name in sorted(s.name for s in load_specs(ROOT / "specs")):
        mod = importlib.import_module(f"surrogen.jax.{name}")
        bwd = jax.jit(lambda v, w, mod=mod: w * mod.grad(v))
        sides = {
            "floor": lambda: floor(x, g, out),
            "trivial": lambda: trivial(xj, gj).block_until_ready(),
            "surrogen": lambda bwd=bwd: bwd(xj, gj).block_until_ready(),
        }
        for side in sides.values():
            side()
        times: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(repeat):
            for label, side in sides.items():
                start = time.perf_counter()
                side()
                times[label].append(time.perf_counter() - start)
        ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        rows.append(
            f"{name:26} {ms['floor']:9.2f} {ms['trivial']:11.2f} {ms['surrogen']:11.2f}"
            f" {ms['surrogen'] / ms['trivial']:11.2f} {100 * ms['floor'] / ms['surrogen']:10.0f}%"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 24)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("\n".join(child(args.n, args.repeat)), flush=True)
        return
    import jax

    head = (
        f"{'surrogate':26} {'floor ms':>9} {'trivial ms':>11} {'surrogen ms':>11}"
        f" {'vs trivial':>11} {'% of floor':>11}"
    )
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    lines = [
        f"JAX jit g * grad(x) on the CPU, float32, N = {args.n}; medians of {args.repeat}"
        " interleaved rounds",
        f"host: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f};"
        f" jax {jax.__version__}; transparent huge pages:"
        f" {thp.read_text().strip() if thp.exists() else 'unknown'}",
    ]
    print("\n".join(lines), flush=True)
    for label, extra in (
        ("default allocator", {}),
        (f"GLIBC_TUNABLES={HUGEPAGES}", {"GLIBC_TUNABLES": HUGEPAGES}),
    ):
        env = {**os.environ, **extra}
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--n",
            str(args.n),
            "--repeat",
            str(args.repeat),
        ]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        block = ["", f"## {label}", head, result.stdout.rstrip()]
        print("\n".join(block), flush=True)
        lines += block
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Forward + backward time of surrogen.torch's ``spike`` against SpikingJelly's and snnTorch's
surrogate spike functions, eager and under ``torch.compile``, in one run.

    python benchmarks/bench_torch.py [--n 1048576] [--repeat 30] [--out FILE]

Installs nothing: SpikingJelly and snnTorch are timed when they are importable (``pip install
spikingjelly snntorch``; note that spikingjelly's requirements pull the default, CUDA-bundling torch
wheel unless torch is already installed) and listed as missing otherwise. One step is
``y = f(x); y.backward(g)`` on float32 tensors of n elements on the CPU; "time" is the median
wall time, "vs ours" is that library's time / ours in the same mode (> 1: ours is faster).
Compiled functions are ``torch.compile(f)`` (inductor) and are tried with ``fullgraph=True``
first; "graph" says whether that succeeded.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

import surrogen.torch as st

SpikeFn = Callable[[torch.Tensor], torch.Tensor]


def candidates() -> dict[str, dict[str, tuple[str, SpikeFn] | str]]:
    """surrogate -> library -> (what is called, function), or a string saying why it is absent.
    The same formula and parameter values in each library (SpikingJelly has no 1/(1+beta|x|)^2
    surrogate: its SuperSpike is alpha/(1+|x|)^2, timed as the nearest one)."""
    table: dict[str, dict[str, tuple[str, SpikeFn] | str]] = {
        "sigmoid": {
            "surrogen": ("sigmoid.spike(x, alpha=4.0)", lambda x: st.sigmoid.spike(x, 4.0))
        },
        "arctan": {"surrogen": ("arctan.spike(x, alpha=2.0)", lambda x: st.arctan.spike(x, 2.0))},
        "superspike": {
            "surrogen": ("superspike.spike(x, beta=20.0)", lambda x: st.superspike.spike(x, 20.0))
        },
    }
    try:
        from spikingjelly.activation_based import surrogate as sj

        table["sigmoid"]["spikingjelly"] = ("Sigmoid(alpha=4.0)", sj.Sigmoid(alpha=4.0))
        table["arctan"]["spikingjelly"] = ("ATan(alpha=2.0)", sj.ATan(alpha=2.0))
        table["superspike"]["spikingjelly"] = ("SuperSpike(alpha=1.0)", sj.SuperSpike(alpha=1.0))
    except ImportError as e:
        for row in table.values():
            row["spikingjelly"] = f"not installed ({e})"
    try:
        import snntorch.surrogate as sn

        table["sigmoid"]["snntorch"] = ("sigmoid(slope=4)", sn.sigmoid(slope=4))
        table["arctan"]["snntorch"] = ("atan(alpha=2.0)", sn.atan(alpha=2.0))
        table["superspike"]["snntorch"] = ("fast_sigmoid(slope=20)", sn.fast_sigmoid(slope=20))
    except ImportError as e:
        for row in table.values():
            row["snntorch"] = f"not installed ({e})"
    return table


def timeit(fn: SpikeFn, x: torch.Tensor, g: torch.Tensor, repeat: int) -> float:
    """Median ms of one forward + backward after three warm-ups (compilation happens there)."""

    def step() -> None:
        x.grad = None
        fn(x).backward(g)

    for _ in range(3):
        step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def compiled(fn: SpikeFn, x: torch.Tensor, g: torch.Tensor) -> tuple[SpikeFn, str]:
    """``torch.compile(fn, fullgraph=True)`` if it traces, else ``torch.compile(fn)``."""
    torch._dynamo.reset()
    full = torch.compile(fn, fullgraph=True)
    try:
        full(x).backward(g)
        return full, "full"
    except Exception as e:  # Dynamo's Unsupported and friends: report, then compile with breaks
        torch._dynamo.reset()
        return torch.compile(fn), f"breaks ({type(e).__name__})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2**20)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(args.n, generator=gen) * 2).requires_grad_()
    g = torch.rand(args.n, generator=gen)
    cpu = platform.processor() or platform.machine()
    lines = [
        f"# surrogen.torch vs SpikingJelly and snnTorch: forward + backward, {args.n} float32 on"
        f" the CPU ({torch.get_num_threads()} threads, {cpu})",
        f"# torch {torch.__version__}, median of {args.repeat}; vs ours = their time / ours;"
        f" load average at start {os.getloadavg()[0]:.1f}",
        f"{'surrogate':<11} {'mode':<9} {'library':<13} {'called as':<32} {'time ms':>8}"
        f" {'vs ours':>8}  graph",
    ]
    for name, libs in candidates().items():
        for mode in ("eager", "compiled"):
            ours = None
            for lib, entry in libs.items():
                if isinstance(entry, str):
                    if mode == "eager":
                        lines.append(f"{name:<11} {mode:<9} {lib:<13} {entry}")
                    continue
                called, fn = entry
                graph = "-"
                if mode == "compiled":
                    fn, graph = compiled(fn, x, g)
                t = timeit(fn, x, g, args.repeat)
                ours = t if lib == "surrogen" else ours
                ratio = t / ours if ours else float("nan")
                lines.append(
                    f"{name:<11} {mode:<9} {lib:<13} {called:<32} {t:8.3f} {ratio:8.2f}  {graph}"
                )
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

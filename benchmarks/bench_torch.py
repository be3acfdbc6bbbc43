"""Forward + backward time of surrogen.torch's ``spike`` against SpikingJelly's and snnTorch's
surrogate spike functions, eager and under ``torch.compile``, in one run.

    python benchmarks/bench_torch.py [--n 1048576] [--repeat 30] [--threads N] [--out FILE]

Installs nothing: SpikingJelly and snnTorch are timed when they are importable and listed as
missing otherwise. ``pip install spikingjelly snntorch`` works, but spikingjelly requires
torchvision and torchaudio, which replace a CPU torch wheel with the default CUDA one: reinstall
``torch==2.13.0+cpu`` afterwards (the surrogate module imports neither of them). One step is
``y = f(x); y.backward(g)`` on float32 tensors of n elements on the CPU; times are the median
and minimum wall time, "vs ours" that library's minimum / ours in the same mode (> 1: ours is
faster); the libraries take turns in every round, so that load from elsewhere falls on all alike.
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


def timeit(
    fns: list[SpikeFn], x: torch.Tensor, g: torch.Tensor, repeat: int
) -> list[tuple[float, float]]:
    """(min, median) ms of one forward + backward of each function, after three warm-ups
    (compilation happens there). The functions take turns within every repetition, so that load
    from other processes falls on all of them alike."""

    def step(fn: SpikeFn) -> float:
        start = time.perf_counter()
        x.grad = None
        fn(x).backward(g)
        return time.perf_counter() - start

    for fn in fns:
        for _ in range(3):
            step(fn)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            times[i].append(step(fn))
    return [(min(t) * 1e3, statistics.median(t) * 1e3) for t in times]


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
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(args.n, generator=gen) * 2).requires_grad_()
    g = torch.rand(args.n, generator=gen)
    cpu = platform.processor() or platform.machine()
    lines = [
        f"# surrogen.torch vs SpikingJelly and snnTorch: forward + backward, {args.n} float32 on"
        f" the CPU ({torch.get_num_threads()} threads, {cpu})",
        f"# torch {torch.__version__}; {args.repeat} rounds, the libraries taking turns in each;"
        f" load average at start {os.getloadavg()[0]:.1f}",
        "# vs ours = their time / ours, from the minimum (> 1: ours is faster)",
        f"{'surrogate':<11} {'mode':<9} {'library':<13} {'called as':<32} {'min ms':>8}"
        f" {'median ms':>9} {'vs ours':>8}  graph",
    ]
    for name, libs in candidates().items():
        present = {lib: e for lib, e in libs.items() if not isinstance(e, str)}
        for lib, entry in libs.items():
            if isinstance(entry, str):
                lines.append(f"{name:<11} {'-':<9} {lib:<13} {entry}")
        for mode in ("eager", "compiled"):
            fns, graphs = [], []
            for _, fn in present.values():
                graph = "-"
                if mode == "compiled":
                    fn, graph = compiled(fn, x, g)
                fns.append(fn)
                graphs.append(graph)
            results = timeit(fns, x, g, args.repeat)
            ours = results[0][0]  # surrogen comes first
            for (lib, (called, _)), (best, median), graph in zip(
                present.items(), results, graphs, strict=True
            ):
                lines.append(
                    f"{name:<11} {mode:<9} {lib:<13} {called:<32} {best:8.3f} {median:9.3f}"
                    f" {best / ours:8.2f}  {graph}"
                )
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

"""Import cost of each backend above its engine, and the generator's time for all specs.

    python benchmarks/bench_import.py [--repeat 5] [--out FILE]

Each import runs in a fresh interpreter (Numba's on-disk cache warm after the first round), rounds
interleaved; the table gives medians and the difference to the engine's own import.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = [
    ("import numba", "numba"),
    ("import surrogen.numba_cpu", "numba"),
    ("from surrogen.numba_cpu import sigmoid", "numba"),
    ("import jax", "jax"),
    ("import surrogen.jax", "jax"),
    ("from surrogen.jax import sigmoid", "jax"),
]
ENV = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}


def _time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    for code, _ in CASES:  # warm Numba's cache and the OS file cache
        _time(code)
    times: dict[str, list[float]] = {code: [] for code, _ in CASES}
    for _ in range(args.repeat):
        for code, _ in CASES:
            times[code].append(_time(code))
    med = {code: statistics.median(t) for code, t in times.items()}
    lines = [f"{'statement':42} {'median s':>9} {'over engine s':>14}"]
    for code, engine in CASES:
        lines.append(f"{code:42} {med[code]:9.2f} {med[code] - med['import ' + engine]:14.2f}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "surrogen.generator", "--check"], check=True, env=ENV)
    lines.append(f"{'generator, all specs (--check)':42} {time.perf_counter() - start:9.2f}")
    lines.append(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

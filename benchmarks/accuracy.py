"""Accuracy of the generated surrogate gradients in units in the last place (ulp).

    python benchmarks/accuracy.py                  # writes benchmarks/results/accuracy.md
    python benchmarks/accuracy.py --quick          # fewer points, prints only
    python benchmarks/accuracy.py --package DIR    # another generated package (e.g. an old one)

For every spec, at its defaults and at a second parameter set (real parameters x1.5, integer ones
+1), the gradient ``grad(x)`` of each backend is compared with the true value of d origin/dx at
the same input: SymPy differentiates the spec's origin and mpmath evaluates it (40 digits, more
where the value is tiny), independently of the forms the generator emits. The error of a result
``y`` is ``|y - g(x)| / ulp(g(x))``, the ulp being the spacing of the dtype at the true value, so
the correctly rounded value is within 0.5 ulp; points are counted where the true value is a
normal number of the dtype. An exact 0 where the true value is normal (flushed) counts as its
full value in ulps.

Inputs: float16 and bfloat16, every finite value (exhaustive); float32, a log scan of both signs
from the smallest subnormal to the largest value plus a dense grid on [-5, 5]; float64, the same
in float64. JAX runs under ``jit`` on the CPU (float64 with x64 enabled); Numba CUDA runs on a
real GPU only (``--gpu``): on the simulator its device functions are Python.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import mpmath
import numpy as np
import sympy

ROOT = Path(__file__).resolve().parents[1]
DPS = 40
TINY_REFINE = mpmath.mpf("1e-30")  # below this, recompute at more digits (cancellation)
TARGETS = {"float16": 1.0, "bfloat16": 1.0, "float32": 2.0, "float64": 4.0}
DTYPES = ("float16", "bfloat16", "float32", "float64")


def np_dtype(name: str) -> np.dtype:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def finfo(name: str):
    import ml_dtypes

    return ml_dtypes.finfo(np_dtype(name))


@functools.cache
def specs() -> dict:
    sys.path.insert(0, str(ROOT))
    from surrogen.generator.spec import load_specs

    return {s.name: s for s in load_specs(ROOT / "specs")}


def param_sets(name: str) -> list[tuple[float, ...]]:
    ps = specs()[name].params
    defaults = tuple(float(p.default) for p in ps)
    second = tuple(float(p.default + 1 if p.domain == "integer" else p.default * 1.5) for p in ps)
    return [defaults, second] if ps else [defaults]


@functools.cache
def _true_grad(name: str):
    from surrogen.generator.symbolic import build_model

    m = build_model(specs()[name])
    # Mod(a, b) as a - b*floor(a/b): SymPy's Python printers print 2*Mod(x, p) as 2*x % p, which
    # Python reads as (2*x) % p.
    grad = m.grad.replace(sympy.Mod, lambda a, b: a - b * sympy.floor(a / b))
    return sympy.lambdify((m.x, *m.params), grad, "mpmath")


def _mp_param(name: str, i: int, value: float) -> mpmath.mpf | int:
    """An integer parameter as a Python int (a Sum's bound is a ``range`` argument)."""
    return int(value) if specs()[name].params[i].domain == "integer" else mpmath.mpf(value)


def true_grad(name: str, xs: np.ndarray, params: tuple[float, ...]) -> list[mpmath.mpf]:
    """d origin/dx at each x (exact float inputs), 40 digits, refined where tiny."""
    f = _true_grad(name)
    out = []
    for x in xs.astype(np.float64).tolist():
        dps = DPS
        with mpmath.workdps(dps):
            args = [mpmath.mpf(x), *(_mp_param(name, i, p) for i, p in enumerate(params))]
            value = f(*args)
        while abs(value) < TINY_REFINE and value != 0 and dps < 1600:
            dps *= 2
            with mpmath.workdps(dps):
                finer = f(*args)
            if abs(finer - value) <= mpmath.mpf("1e-20") * abs(finer):
                value = finer
                break
            value = finer
        out.append(mpmath.mpf(value))
    return out


def inputs(dtype_name: str, quick: bool = False) -> np.ndarray:
    """The finite inputs of a dtype (exhaustive for 16 bits), as that dtype."""
    dtype = np_dtype(dtype_name)
    if dtype.itemsize == 2:
        everything = np.arange(2**16, dtype=np.uint16).view(dtype)
        xs = everything[np.isfinite(everything.astype(np.float32))]
        return xs[:: 16 if quick else 1]
    info = finfo(dtype_name)
    n = 300 if quick else 3000
    lo, hi = np.log10(float(info.smallest_subnormal)), np.log10(float(info.max))
    with np.errstate(over="ignore"):
        mags = np.logspace(lo, hi, n)
    dense = np.linspace(-5.0, 5.0, 1001 if quick else 10001)
    xs = np.concatenate([mags, -mags, dense, [0.0, -0.0]])
    with np.errstate(over="ignore"):
        xs = np.unique(xs.astype(dtype))
    return xs[np.isfinite(xs)]


@dataclass
class Result:
    max_ulp: float
    worst_x: float
    flushed: int  # exact 0 where the true value is normal
    points: int


def ulp_errors(got: np.ndarray, truth: list[mpmath.mpf], dtype_name: str) -> np.ndarray:
    """|got - truth| / ulp(truth) where truth is normal in the dtype; NaN elsewhere."""
    info = finfo(dtype_name)
    tiny, biggest = mpmath.mpf(float(info.smallest_normal)), mpmath.mpf(float(info.max))
    mant = int(info.nmant)
    errs = np.full(len(truth), np.nan)
    with mpmath.workdps(60):
        for i, (y, t) in enumerate(zip(got.astype(np.float64).tolist(), truth, strict=True)):
            a = abs(t)
            if a < tiny or a > biggest:
                continue
            ulp = mpmath.mpf(2) ** (mpmath.floor(mpmath.log(a, 2)) - mant)
            errs[i] = float(abs(mpmath.mpf(y) - t) / ulp) if np.isfinite(y) else np.inf
    return errs


def measure(
    grad_fn, name: str, params: tuple[float, ...], dtype_name: str, quick: bool = False
) -> Result:
    xs = inputs(dtype_name, quick)
    truth = true_grad(name, xs, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = np.asarray(grad_fn(xs, params), dtype=np.float64)
    errs = ulp_errors(got, truth, dtype_name)
    valid = ~np.isnan(errs)
    flushed = int(np.sum(valid & (got == 0)))
    if not valid.any():
        return Result(0.0, float("nan"), 0, 0)
    i = int(np.nanargmax(errs))
    return Result(float(errs[i]), float(xs[i]), flushed, int(valid.sum()))


# --- backends: each returns grad(x, *params) for an array x of one dtype ---------------------


def jax_grad(package: str, name: str):
    import jax
    import jax.numpy as jnp

    module = importlib.import_module(f"{package}.jax.{name}")
    fn = jax.jit(module.grad)

    def run(xs: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
        with jax.enable_x64(xs.dtype == np.float64):
            return np.asarray(fn(jnp.asarray(xs), *params)).astype(np.float64)

    return run


def numba_cpu_grad(package: str, name: str):
    module = importlib.import_module(f"{package}.numba_cpu.{name}")

    def run(xs: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
        return module.grad(xs, *params).astype(np.float64)

    return run


def numba_cuda_grad(package: str, name: str):
    module = importlib.import_module(f"{package}.numba_cuda.{name}")

    def run(xs: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
        return module.grad(xs, *params).astype(np.float64)

    return run


BACKENDS = {
    "jax": (jax_grad, DTYPES),
    "numba_cpu": (numba_cpu_grad, ("float32", "float64")),
    "numba_cuda": (numba_cuda_grad, ("float16", "float32", "float64")),
}


def table(package: str, backends: list[str], quick: bool) -> tuple[str, dict]:
    """The Markdown table and the raw results."""
    results: dict = {}
    columns = [(b, d) for b in backends for d in BACKENDS[b][1]]
    head = "| spec | parameters | " + " | ".join(f"{b} {d}" for b, d in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for name in sorted(specs()):
        fns = {b: BACKENDS[b][0](package, name) for b in backends}
        for params in param_sets(name):
            cells = []
            for b, d in columns:
                r = measure(fns[b], name, params, d, quick)
                results[(name, params, b, d)] = r
                mark = "" if r.max_ulp <= TARGETS[d] else " ✗"
                flush = f", {r.flushed} flushed" if r.flushed else ""
                cells.append(f"{r.max_ulp:.3g}{mark}{flush}")
            shown = ", ".join(
                f"{p.name}={v:g}" for p, v in zip(specs()[name].params, params, strict=True)
            )
            lines.append(f"| {name} | {shown or '-'} | " + " | ".join(cells) + " |")
    return "\n".join(lines), results


def summary(results: dict) -> str:
    rows = []
    for d in DTYPES:
        for b in sorted({k[2] for k in results}):
            hits = [r for k, r in results.items() if k[2] == b and k[3] == d]
            if hits:
                ok = sum(r.max_ulp <= TARGETS[d] for r in hits)
                rows.append(f"- {b} {d}: {ok} of {len(hits)} within {TARGETS[d]:g} ulp")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points; print, do not write")
    parser.add_argument("--gpu", action="store_true", help="also Numba CUDA (a real GPU)")
    parser.add_argument("--package", default="surrogen", help="the generated package to measure")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy.md")
    args = parser.parse_args()
    backends = ["jax", "numba_cpu"] + (["numba_cuda"] if args.gpu else [])
    start = time.perf_counter()
    text, results = table(args.package, backends, args.quick)
    elapsed = time.perf_counter() - start
    report = (
        "# Accuracy of the surrogate gradients (max ulp)\n\n"
        "Generated by `python benchmarks/accuracy.py` (see its docstring for the method). Each"
        " cell is the largest error in ulps of the dtype over the inputs where the true value is"
        " a normal number; ✗ marks a cell above the target (float32 2 ulp, float16 and bfloat16"
        " 1 ulp, float64 4 ulp); `flushed` counts exact zeros where the true value is normal.\n\n"
        f"{text}\n\n## Within target\n\n{summary(results)}\n"
    )
    print(report)
    print(f"({elapsed:.0f} s)", file=sys.stderr)
    if not args.quick:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

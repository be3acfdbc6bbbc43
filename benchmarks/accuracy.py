"""Accuracy of the generated surrogate gradients in units in the last place (ulp).

    python benchmarks/accuracy.py                  # writes benchmarks/results/accuracy.md
    python benchmarks/accuracy.py --quick          # fewer points, prints only
    python benchmarks/accuracy.py --jobs 2         # true values in 2 processes (default: all CPUs)
    python benchmarks/accuracy.py --specs sigmoid  # some specs only
    python benchmarks/accuracy.py --package NAME   # another generated package (e.g. an old one)

``--package NAME`` measures another importable package laid out like ``surrogen`` (modules
``NAME.jax.<spec>`` and ``NAME.numba_cpu.<spec>``, with ``grad(x, *params)``), e.g. an older
commit's generated code (benchmarks/results/accuracy_before.md says how that one was made);
``--specs`` limits it to the specs it has. The true values always come from today's specs.

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

The true values depend on the spec, the parameter set and the dtype's input grid only, so each
is computed once and shared by every backend: by ``--jobs`` worker processes (pure Python and
mpmath, started with 'spawn'; the backends, whose runtimes start threads of their own, run in
this process only), and cached on disk, one ``.npz`` per spec, parameter set and dtype in
``benchmarks/.cache/accuracy/`` (git-ignored; ``--cache-dir``, ``--no-cache``). A file is named by
a hash of everything its values depend on (the spec file's text, the derivative SymPy builds from
it, the parameters, the dtype, the input grid and the precision settings), so a changed spec never
reuses stale values. A true value is kept as its binary exponent and its significand in two
float64s (106 bits), which gives the error in ulps to about 1e-16 of itself without mpmath.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import os
import sys
import time
import warnings
import zipfile
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np
import sympy

if TYPE_CHECKING:
    from surrogen.generator.spec import Spec

ROOT = Path(__file__).resolve().parents[1]
DPS = 40
TINY_REFINE = mpmath.mpf("1e-30")  # below this, recompute at more digits (cancellation)
REFINE_MAX_DPS = 1600
REFINE_AGREE = mpmath.mpf("1e-20")  # two precisions agree to this relative difference
TARGETS = {"float16": 1.0, "bfloat16": 1.0, "float32": 2.0, "float64": 4.0}
DTYPES = ("float16", "bfloat16", "float32", "float64")
CACHE_DIR = ROOT / "benchmarks" / ".cache" / "accuracy"
CACHE_VERSION = 1  # bump when the computation or the stored layout of the true values changes
CHUNK = 4096  # inputs per worker task
NOT_NORMAL = np.iinfo(np.int32).min  # the exponent kept for a true value 0, NaN or infinite
EXPONENT_LIMIT = 1100  # beyond +-2**1100 no dtype here has normal numbers

GradFn = Callable[[np.ndarray, tuple[float, ...]], np.ndarray]
Cell = tuple[str, tuple[float, ...], str]  # spec, parameter set, dtype


def np_dtype(name: str) -> np.dtype[Any]:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def finfo(name: str) -> Any:
    import ml_dtypes

    return ml_dtypes.finfo(np_dtype(name))


@functools.cache
def specs() -> dict[str, Spec]:
    sys.path.insert(0, str(ROOT))
    from surrogen.generator.spec import load_specs

    return {s.name: s for s in load_specs(ROOT / "specs")}


def param_sets(name: str) -> list[tuple[float, ...]]:
    ps = specs()[name].params
    defaults = tuple(float(p.default) for p in ps)
    second = tuple(float(p.default + 1 if p.domain == "integer" else p.default * 1.5) for p in ps)
    return [defaults, second] if ps else [defaults]


@functools.cache
def _model(name: str) -> Any:
    from surrogen.generator.symbolic import build_model

    return build_model(specs()[name])


@functools.cache
def _grad_expr(name: str) -> sympy.Expr:
    """d origin/dx as SymPy builds it from the spec (the generator's model)."""
    # Mod(a, b) as a - b*floor(a/b): SymPy's Python printers print 2*Mod(x, p) as 2*x % p, which
    # Python reads as (2*x) % p.
    return _model(name).grad.replace(sympy.Mod, lambda a, b: a - b * sympy.floor(a / b))


@functools.cache
def _true_grad(name: str) -> Callable[..., Any]:
    m = _model(name)
    return sympy.lambdify((m.x, *m.params), _grad_expr(name), "mpmath")


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
        while abs(value) < TINY_REFINE and value != 0 and dps < REFINE_MAX_DPS:
            dps *= 2
            with mpmath.workdps(dps):
                finer = f(*args)
            if abs(finer - value) <= REFINE_AGREE * abs(finer):
                value = finer
                break
            value = finer
        out.append(mpmath.mpf(value))
    return out


@dataclass(frozen=True)
class Truth:
    """True values ``t = s * 2**k`` with ``1 <= |s| < 2``: the exponent ``k`` (NOT_NORMAL for 0,
    NaN, infinities and values beyond 2**+-EXPONENT_LIMIT) and ``s = hi + lo`` exactly to 106 bits
    (``hi = float(s)``, ``lo = float(s - hi)``)."""

    k: np.ndarray  # int32
    hi: np.ndarray  # float64
    lo: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.k)

    @classmethod
    def from_mpf(cls, values: Sequence[mpmath.mpf]) -> Truth:
        k = np.full(len(values), NOT_NORMAL, dtype=np.int32)
        hi, lo = np.zeros(len(values)), np.zeros(len(values))
        with mpmath.workprec(256):
            for i, t in enumerate(values):
                if t == 0 or not mpmath.isfinite(t):
                    continue
                m, e = mpmath.frexp(t)  # t = m * 2**e, 0.5 <= |m| < 1
                if abs(e - 1) > EXPONENT_LIMIT:
                    continue
                s = mpmath.ldexp(m, 1)
                k[i], hi[i] = e - 1, float(s)
                lo[i] = float(s - hi[i])
        return cls(k, hi, lo)


@dataclass
class Result:
    max_ulp: float
    worst_x: float
    flushed: int  # exact 0 where the true value is normal
    points: int


def _exponent_and_significand(value: float) -> tuple[int, float]:
    """(k, s) with value = s * 2**k, 1 <= s < 2, for a positive float."""
    m, e = np.frexp(value)
    return int(e) - 1, float(m) * 2.0


def ulp_errors(got: np.ndarray, truth: Truth | Sequence[mpmath.mpf], dtype_name: str) -> np.ndarray:
    """|got - truth| / ulp(truth) where truth is normal in the dtype; NaN elsewhere."""
    t = truth if isinstance(truth, Truth) else Truth.from_mpf(truth)
    y = np.asarray(got, dtype=np.float64)
    if len(y) != len(t):
        raise ValueError(f"{len(y)} results for {len(t)} true values")
    info = finfo(dtype_name)
    k_min, _ = _exponent_and_significand(float(info.smallest_normal))  # 2**k_min
    k_max, s_max = _exponent_and_significand(float(info.max))  # s_max * 2**k_max
    mag_hi, lo_toward_zero = np.abs(t.hi), np.sign(t.hi) * t.lo <= 0
    below_max = (mag_hi < s_max) | ((mag_hi == s_max) & lo_toward_zero)  # |s| <= s_max
    normal = (t.k >= k_min) & ((t.k < k_max) | ((t.k == k_max) & below_max))
    errs = np.full(len(y), np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        # y / 2**k - s, exact where y is near t (Sterbenz), then scaled by 1/ulp = 2**(nmant - k)
        scaled = np.ldexp(y[normal], -t.k[normal])
        err = np.ldexp(np.abs((scaled - t.hi[normal]) - t.lo[normal]), int(info.nmant))
    err[~np.isfinite(y[normal])] = np.inf
    errs[normal] = err
    return errs


def measure(
    grad_fn: GradFn,
    name: str,
    params: tuple[float, ...],
    dtype_name: str,
    quick: bool = False,
    truth: Truth | None = None,
) -> Result:
    """One cell: ``grad_fn`` on the dtype's inputs against the true values (``truth``, computed
    here if not given)."""
    xs = inputs(dtype_name, quick)
    if truth is None:
        truth = Truth.from_mpf(true_grad(name, xs, params))
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


# --- true values: once per (spec, parameter set, dtype), in worker processes, cached -----------


def cache_key(name: str, params: tuple[float, ...], dtype_name: str, xs: np.ndarray) -> str:
    """A hash of everything the true values of a cell depend on."""
    spec = specs()[name]
    h = hashlib.sha256()
    method = f"v{CACHE_VERSION} {DPS} {TINY_REFINE} {REFINE_MAX_DPS} {REFINE_AGREE}"
    signature = repr([(p.name, p.domain) for p in spec.params])
    parts = (method, Path(spec.path).read_text(), sympy.srepr(_grad_expr(name)), signature)
    for part in (*parts, repr(params), dtype_name, str(xs.dtype)):
        h.update(part.encode() + b"\0")
    h.update(np.ascontiguousarray(xs).tobytes())
    return h.hexdigest()


def _truth_chunk(
    name: str, params: tuple[float, ...], xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A worker's task (plain arrays travel back; the worker imports no backend)."""
    t = Truth.from_mpf(true_grad(name, xs, params))
    return t.k, t.hi, t.lo


def _interleave(parts: Sequence[Truth]) -> Truth:
    """The inverse of slicing ``xs[j::n]`` for j < n = len(parts)."""
    size, n = sum(len(p) for p in parts), len(parts)
    k, hi, lo = np.empty(size, np.int32), np.empty(size), np.empty(size)
    for j, part in enumerate(parts):
        k[j::n], hi[j::n], lo[j::n] = part.k, part.hi, part.lo
    return Truth(k, hi, lo)


def _load(path: Path, size: int) -> Truth | None:
    try:
        with np.load(path) as data:
            truth = Truth(data["k"], data["hi"], data["lo"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # unreadable: compute
        return None
    return truth if len(truth) == size else None


def _save(path: Path, truth: Truth) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial.npz")
    np.savez(partial, k=truth.k, hi=truth.hi, lo=truth.lo)
    os.replace(partial, path)


@dataclass
class TruthStats:
    cached: int = 0
    computed: int = 0


def truths(
    cells: Sequence[Cell], quick: bool, jobs: int, cache_dir: Path | None, stats: TruthStats
) -> Generator[Truth, None, None]:
    """The true values of each cell, in order: read from the cache, or computed by ``jobs``
    processes (every missing cell is submitted at once) and then saved."""
    found: list[Truth | None] = []
    paths: list[Path | None] = []
    for name, params, dtype_name in cells:
        xs = inputs(dtype_name, quick)
        path = None
        if cache_dir is not None:
            key = cache_key(name, params, dtype_name, xs)
            path = cache_dir / f"{name}-{dtype_name}-{key[:24]}.npz"
        found.append(_load(path, len(xs)) if path is not None and path.is_file() else None)
        paths.append(path)
    missing = [i for i, t in enumerate(found) if t is None]
    pool = None
    if missing and jobs > 1:
        pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"))
    try:
        tasks: dict[int, list[Future[tuple[np.ndarray, np.ndarray, np.ndarray]]]] = {}
        if pool is not None:
            for i in missing:
                name, params, dtype_name = cells[i]
                xs = inputs(dtype_name, quick)
                # Interleaved slices: the costly inputs (tiny values refined at more digits) lie
                # side by side in a sorted grid; every slice gets its share.
                n = max(jobs, -(-len(xs) // CHUNK))
                tasks[i] = [pool.submit(_truth_chunk, name, params, xs[j::n]) for j in range(n)]
        for i, (name, params, dtype_name) in enumerate(cells):
            truth = found[i]
            if truth is None:
                if i in tasks:
                    truth = _interleave([Truth(*f.result()) for f in tasks.pop(i)])
                else:
                    xs = inputs(dtype_name, quick)
                    truth = Truth.from_mpf(true_grad(name, xs, params))
                stats.computed += 1
                path = paths[i]
                if path is not None:
                    _save(path, truth)
            else:
                stats.cached += 1
            yield truth
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


# --- backends: each returns grad(x, *params) for an array x of one dtype ---------------------


def jax_grad(package: str, name: str) -> GradFn:
    import jax
    import jax.numpy as jnp

    module = importlib.import_module(f"{package}.jax.{name}")
    fn = jax.jit(module.grad)

    def run(xs: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
        with jax.enable_x64(xs.dtype == np.float64):
            return np.asarray(fn(jnp.asarray(xs), *params)).astype(np.float64)

    return run


def numba_cpu_grad(package: str, name: str) -> GradFn:
    module = importlib.import_module(f"{package}.numba_cpu.{name}")

    def run(xs: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
        return np.asarray(module.grad(xs, *params)).astype(np.float64)

    return run


def numba_cuda_grad(package: str, name: str) -> GradFn:
    module = importlib.import_module(f"{package}.numba_cuda.{name}")

    def run(xs: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
        return np.asarray(module.grad(xs, *params)).astype(np.float64)

    return run


BACKENDS: dict[str, tuple[Callable[[str, str], GradFn], tuple[str, ...]]] = {
    "jax": (jax_grad, DTYPES),
    "numba_cpu": (numba_cpu_grad, ("float32", "float64")),
    "numba_cuda": (numba_cuda_grad, ("float16", "float32", "float64")),
}

Results = dict[tuple[str, tuple[float, ...], str, str], Result]


def table(
    package: str,
    backends: list[str],
    quick: bool,
    names: Sequence[str] | None = None,
    jobs: int = 1,
    cache_dir: Path | None = None,
    stats: TruthStats | None = None,
) -> tuple[str, Results]:
    """The Markdown table and the raw results."""
    results: Results = {}
    stats = stats if stats is not None else TruthStats()
    columns = [(b, d) for b in backends for d in BACKENDS[b][1]]
    dtypes = [d for d in DTYPES if any(d == c for _, c in columns)]
    names = sorted(specs()) if names is None else list(names)
    cells = [(n, p, d) for n in names for p in param_sets(n) for d in dtypes]
    values = truths(cells, quick, jobs, cache_dir, stats)
    head = "| spec | parameters | " + " | ".join(f"{b} {d}" for b, d in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    try:
        for name in names:
            fns = {b: BACKENDS[b][0](package, name) for b in backends}
            for params in param_sets(name):
                truth = {d: next(values) for d in dtypes}
                shown = []
                for b, d in columns:
                    r = measure(fns[b], name, params, d, quick, truth[d])
                    results[(name, params, b, d)] = r
                    mark = "" if r.max_ulp <= TARGETS[d] else " ✗"
                    flush = f", {r.flushed} flushed" if r.flushed else ""
                    shown.append(f"{r.max_ulp:.3g}{mark}{flush}")
                names_values = zip(specs()[name].params, params, strict=True)
                where = ", ".join(f"{p.name}={v:g}" for p, v in names_values)
                lines.append(f"| {name} | {where or '-'} | " + " | ".join(shown) + " |")
    finally:
        values.close()
    return "\n".join(lines), results


def summary(results: Results) -> str:
    rows = []
    for d in DTYPES:
        for b in sorted({k[2] for k in results}):
            hits = [r for k, r in results.items() if k[2] == b and k[3] == d]
            if hits:
                ok = sum(r.max_ulp <= TARGETS[d] for r in hits)
                rows.append(f"- {b} {d}: {ok} of {len(hits)} within {TARGETS[d]:g} ulp")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points; print, do not write")
    parser.add_argument("--gpu", action="store_true", help="also Numba CUDA (a real GPU)")
    parser.add_argument("--package", default="surrogen", help="the generated package to measure")
    parser.add_argument("--specs", nargs="+", metavar="NAME", help="these specs only")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy.md")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes computing true values"
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="true values' cache")
    parser.add_argument("--no-cache", action="store_true", help="compute every true value again")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.specs or ()) - set(specs()))
    if unknown:
        parser.error(f"no spec named {', '.join(unknown)}")
    backends = ["jax", "numba_cpu"] + (["numba_cuda"] if args.gpu else [])
    start = time.perf_counter()
    stats = TruthStats()
    cache_dir = None if args.no_cache else args.cache_dir
    text, results = table(
        args.package, backends, args.quick, args.specs, args.jobs, cache_dir, stats
    )
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
    print(
        f"({elapsed:.0f} s; true values: {stats.computed} computed with {args.jobs} jobs,"
        f" {stats.cached} from the cache)",
        file=sys.stderr,
    )
    if not args.quick:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

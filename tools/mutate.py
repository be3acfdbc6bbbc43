"""Mutation check: plant each bug of a hand-chosen catalogue, one at a time, and see a test fail.

    python tools/mutate.py                 # the whole catalogue (make mutate), writes the table
    python tools/mutate.py --sample        # a few fast mutants, one per layer (make mutate-sample)
    python tools/mutate.py --only ID ...   # chosen mutants

A tool, not a unit test (like benchmarks/): it runs pytest many times. Everything happens in a
temporary copy of the working tree (tracked and untracked, not ignored, files); the real tree is
never touched. A shim package on PYTHONPATH makes ``surrogen`` resolve to the copy's folders, ahead
of the editable install. Each mutant is a text replacement in one file that must occur exactly once
(else it is reported "not applicable": the code moved, update the catalogue):

* ``generated/`` mutants edit a generated module by hand (the freshness tests are deselected);
* source mutants edit the generator, a template or the runtime; ``regen`` ones regenerate
  ``generated/`` in the copy first (a generator that then refuses to generate counts as a kill).

For each, the tests that should notice run (``pytest -x``): exit status 1 is a kill, 0 a survivor,
anything else an error. Equivalent mutants (no observable change) are listed and expected to
survive.
Exit status 1 if a non-equivalent mutant survived or a mutant could not be run.

Why hand-chosen and not mutmut/cosmic-ray: generated code is regenerated from templates, so source
mutation tools cannot see it; and for the generator's own Python a tool's thousands of mutants
would each need seconds of SymPy checks and a JAX/Numba start-up (minutes per mutant on 2 cores,
against this catalogue's about 20 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "tools" / "results" / "mutants.md"
FRESHNESS = [
    "--deselect",
    "tests/test_generated.py::test_generated_matches_specs_and_templates",
    "--deselect",
    "tests/test_generated.py::test_regeneration_is_byte_identical_under_another_hash_seed",
]


@dataclass(frozen=True)
class Mutant:
    id: str
    kind: str  # the kind of bug, as a reader would name it
    path: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments that select the tests expected to kill it
    regen: bool = False  # regenerate generated/ after the edit
    equivalent: str = ""  # why it cannot be observed (expected to survive)
    sample: bool = False  # part of the fast sample CI runs


def _k(path: str, expr: str) -> tuple[str, ...]:
    return (path, "-k", expr)


STRICT = "tests/test_dtypes_strict.py"
EDGE = "tests/test_edge_values.py"
ENTRY = "tests/test_entry_points.py"
ERRORS = "tests/test_error_paths.py"
DOCS = "tests/test_docs_content.py"

CATALOGUE: tuple[Mutant, ...] = (
    # --- generated modules, edited by hand ------------------------------------------------------
    Mutant(
        "cuda-f16-grad-1e-3",
        "float16 CUDA gradient kernel 0.1% off",
        "generated/numba_cuda/gaussian.py",
        "_out[_i] = _f16(grad_f32(_f32(x[_i]), alpha))",
        "_out[_i] = _f16(grad_f32(_f32(x[_i]), alpha) * _f32(1.001))",
        _k(STRICT, "scalar and numba_cuda-float16 and defaults and gaussian"),
        sample=True,
    ),
    Mutant(
        "cuda-f16-spike-at-zero",
        "float16 CUDA spike kernel: x > 0 instead of x >= 0",
        "generated/numba_cuda/sigmoid.py",
        "_out[_i] = _f16(_step_f32(_f32(x[_i])))",
        "_out[_i] = _f16(_f32(1.0) if _f32(x[_i]) > _f32(0.0) else _f32(0.0))",
        _k(STRICT, "scalar and numba_cuda-float16 and defaults and sigmoid"),
    ),
    Mutant(
        "cuda-f16-bwd-drops-g",
        "float16 CUDA backward kernel ignores the incoming gradient",
        "generated/numba_cuda/sigmoid.py",
        "_out[_i] = _f16(_f32(g[_i]) * grad_f32(_f32(x[_i]), alpha))",
        "_out[_i] = _f16(grad_f32(_f32(x[_i]), alpha))",
        _k(STRICT, "scalar and numba_cuda-float16 and defaults and sigmoid"),
    ),
    Mutant(
        "cuda-wrong-index",
        "CUDA kernel reads g at the wrong index",
        "generated/numba_cuda/sigmoid.py",
        "_out[_i] = _f32(_f32(g[_i]) * grad_f32(_f32(x[_i]), alpha))",
        "_out[_i] = _f32(_f32(g[_i - 1]) * grad_f32(_f32(x[_i]), alpha))",
        _k(STRICT, "scalar and numba_cuda-float32 and defaults and sigmoid"),
    ),
    Mutant(
        "cuda-spikes-on-nan",
        "CUDA forward spikes on NaN",
        "generated/numba_cuda/gaussian.py",
        "if x == _f32(0.0) or (x == x and math.copysign(_f32(1.0), x) > _f32(0.0)):",
        "if x == _f32(0.0) or math.copysign(_f32(1.0), x) > _f32(0.0):",
        _k(EDGE, "nan and numba_cuda-float32 and gaussian"),
    ),
    Mutant(
        "cuda-default",
        "wrong default value in a CUDA host function",
        "generated/numba_cuda/sigmoid.py",
        "def grad(x, alpha=4.0, *,",
        "def grad(x, alpha=2.0, *,",
        _k(ENTRY, "defaults and sigmoid"),
    ),
    Mutant(
        "cpu-defaults-dict",
        "wrong value in DEFAULTS",
        "generated/numba_cpu/sigmoid.py",
        'DEFAULTS = {"alpha": 4.0}',
        'DEFAULTS = {"alpha": 1.0}',
        _k(ENTRY, "defaults and sigmoid"),
    ),
    Mutant(
        "jax-default",
        "wrong default value in a JAX function",
        "generated/jax/sigmoid.py",
        "def origin(x, alpha=4.0):",
        "def origin(x, alpha=2.0):",
        _k(ENTRY, "defaults and sigmoid"),
    ),
    Mutant(
        "cpu-hard-coded-default",
        "Numba CPU kernel right only at the default parameters",
        "generated/numba_cpu/sigmoid.py",
        "_t0 * alpha / ((_t0 + _like(x, 1.0)) * (_t0 + _like(x, 1.0))), _wide(_x)",
        "_t0 * _like(x, 4.0) / ((_t0 + _like(x, 1.0)) * (_t0 + _like(x, 1.0))), _wide(_x)",
        _k(STRICT, "scalar and numba_cpu-float32 and other and sigmoid"),
    ),
    Mutant(
        "cpu-swapped-params",
        "two parameters swapped (equal at the defaults)",
        "generated/numba_cpu/multi_gaussian.py",
        "def _grad(_x, h, s, sigma, scale):",
        "def _grad(_x, h, s, scale, sigma):",
        _k(STRICT, "scalar and numba_cpu-float64 and other and multi_gaussian"),
    ),
    Mutant(
        "cpu-f32-literal",
        "untyped literal: the float32 loop computes in float64",
        "generated/numba_cpu/fake_numerical_gradient.py",
        "def _grad(_x, alpha):\n    x = _not_nan(_x)\n    _t0 = abs(x)\n"
        "    _t1 = _like(x, 1.0) / alpha",  # the gradient (the origin has the same line)
        "def _grad(_x, alpha):\n    x = _not_nan(_x)\n    _t0 = abs(x)\n    _t1 = 1.0 / alpha",
        ("tests/test_float32_loops.py", "-k", "fake_numerical_gradient"),
        sample=True,
    ),
    Mutant(
        "jax-grad-param-derivative",
        "wrong JAX derivative of grad with respect to a parameter",
        "generated/jax/gaussian.py",
        "-2 * _t0 * _t1 * _t2 + _t1 * _t2",
        "-1 * _t0 * _t1 * _t2 + _t1 * _t2",
        _k(ENTRY, "parameter and gaussian and grad"),
    ),
    Mutant(
        "jax-per-neuron-collapsed",
        "per-neuron parameters collapsed to one value",
        "generated/jax/sigmoid.py",
        "_t2 * (1 / ((_t2 * _t1 + 1) * (_t2 * _t1 + 1))) * (_t1 * alpha)",
        "_t2 * (1 / ((_t2 * _t1 + 1) * (_t2 * _t1 + 1))) * (_t1 * jnp.mean(alpha))",
        _k(STRICT, "per_neuron and jax-float32 and sigmoid"),
    ),
    Mutant(
        "jax-grad-swallows-nan",
        "a gradient that swallows NaN",
        "generated/jax/sigmoid.py",
        "    return _rt.result(\n"
        "        _t2 * (1 / ((_t2 * _t1 + 1) * (_t2 * _t1 + 1))) * (_t1 * alpha),"
        " _dtype, x, alpha\n"
        "    )\n",
        "    return jnp.nan_to_num(_rt.result(\n"
        "        _t2 * (1 / ((_t2 * _t1 + 1) * (_t2 * _t1 + 1))) * (_t1 * alpha),"
        " _dtype, x, alpha\n"
        "    ))\n",
        _k(EDGE, "nan and jax-float32 and sigmoid"),
    ),
    Mutant(
        "jax-commuted-product",
        "operands of a product swapped",
        "generated/jax/sigmoid.py",
        "_t2 * (1 / ((_t2 * _t1 + 1) * (_t2 * _t1 + 1))) * (_t1 * alpha)",
        "_t2 * (1 / ((_t2 * _t1 + 1) * (_t2 * _t1 + 1))) * (alpha * _t1)",
        _k(STRICT, "scalar and jax-float32 and sigmoid"),
        equivalent="float multiplication is commutative: the same bits",
    ),
    Mutant(
        "cuda-block-size",
        "another default block size",
        "generated/numba_cuda/sigmoid.py",
        "def grad(x, alpha=4.0, *, out=None, threads_per_block=128):",
        "def grad(x, alpha=4.0, *, out=None, threads_per_block=64):",
        _k(STRICT, "scalar and numba_cuda-float32 and defaults and sigmoid"),
        equivalent="the launch covers every element with any block size",
    ),
    # --- the hand-written runtime ----------------------------------------------------------------
    Mutant(
        "runtime-jax-half-precision",
        "JAX computes float16/bfloat16 in half precision instead of float32",
        "runtime/jax.py",
        "x.dtype.itemsize < 4",
        "x.dtype.itemsize < 2",
        _k(STRICT, "scalar and jax-float16 and defaults and gaussian"),
        sample=True,
    ),
    Mutant(
        "runtime-jax-negative-zero",
        "JAX forward: -0.0 does not spike",
        "runtime/jax.py",
        "return ((bits >= 0) & (bits <= inf)) | (bits == minus_zero)",
        "return (bits >= 0) & (bits <= inf)",
        _k(EDGE, "signed_zeros and jax-float32 and defaults and sigmoid"),
    ),
    Mutant(
        "runtime-cuda-tail-block",
        "CUDA launch misses the last partial block",
        "runtime/numba_cuda.py",
        "blocks = (size + threads_per_block - 1) // threads_per_block",
        "blocks = size // threads_per_block",
        _k(STRICT, "scalar and numba_cuda-float32 and defaults and sigmoid"),
    ),
    Mutant(
        "runtime-cuda-f64-params-f32",
        "CUDA float64 kernels get float32 parameters",
        "runtime/numba_cuda.py",
        "scalar = np.dtype(np.float64 if dtype == np.float64 else np.float32)",
        "scalar = np.dtype(np.float32)",
        _k(STRICT, "scalar and numba_cuda-float64 and other and multi_gaussian"),
    ),
    Mutant(
        "cpu-spike-at-zero",
        "Numba CPU spike: x > 0 instead of x >= 0",
        "runtime/numba_cpu.py",
        "nonnegative = (math.copysign(one, x) > zero) | (x == zero)",
        "nonnegative = (math.copysign(one, x) > zero) & (x != zero)",
        _k(STRICT, "scalar and numba_cpu-float32 and defaults and sigmoid"),
    ),
    Mutant(
        "runtime-cpu-untyped-like",
        "the typed-literal helper returns the literal as float64",
        "runtime/numba_cpu.py",
        "return lambda x, value: ty(value)",
        "return lambda x, value: value",
        ("tests/test_float32_loops.py", "-k", "numba_cpu and sigmoid"),
    ),
    Mutant(
        "runtime-cpu-select-compiled-only",
        "the branch-free select has no pure-Python body (NUMBA_DISABLE_JIT breaks)",
        "runtime/numba_cpu.py",
        "    return a if cond else b\n",
        '    raise NotImplementedError("select is compiled-only")\n',
        ("tests/test_mutation_kinds.py", "-k", "as_python"),
    ),
    # --- the generator and its templates ---------------------------------------------------------
    Mutant(
        "checker-tolerance-1e-3",
        "identity checker's tolerance loosened from 1e-25 to 1e-3",
        "generator/numeric.py",
        'EQUAL_RTOL = mpmath.mpf("1e-25")',
        'EQUAL_RTOL = mpmath.mpf("1e-3")',
        _k(ERRORS, "backward_off"),
        sample=True,
    ),
    Mutant(
        "checker-no-perturbed-params",
        "identity checked at the defaults only",
        "generator/numeric.py",
        'PERTURB_FACTOR = mpmath.mpf("1.37")',
        'PERTURB_FACTOR = mpmath.mpf("1")',
        ("tests/test_checks.py",),
    ),
    Mutant(
        "check-monotone-removed",
        "property check monotone removed",
        "generator/verify.py",
        'if prop == "monotone" and g is not None and g < -EQUAL_RTOL:',
        'if prop == "monotonic" and g is not None and g < -EQUAL_RTOL:',
        _k(ERRORS, "monotone"),
        sample=True,
    ),
    Mutant(
        "check-even-grad-removed",
        "property check even_grad removed",
        "generator/verify.py",
        'if prop == "even_grad" and differ(g, grad(-x, params)):',
        'if prop == "even" and differ(g, grad(-x, params)):',
        _k(ERRORS, "even_grad"),
    ),
    Mutant(
        "loader-unknown-property",
        "unknown property accepted",
        "generator/spec.py",
        "        if prop not in PROPERTIES:\n",
        "        if prop in ():\n",
        _k(ERRORS, "property_unknown"),
    ),
    Mutant(
        "loader-duplicate-property",
        "duplicate property accepted",
        "generator/spec.py",
        "if len(set(properties)) != len(properties):",
        "if len(set(properties)) > len(properties):",
        _k(ERRORS, "property_twice"),
    ),
    Mutant(
        "loader-mismatch-without-note",
        "expect: mismatch accepted without a note",
        "generator/spec.py",
        'if expect == "mismatch" and not note:',
        'if expect == "mismatch" and not note and False:',
        _k(ERRORS, "mismatch_without_note"),
    ),
    Mutant(
        "loader-reserved-names",
        "reserved parameter names accepted",
        "generator/spec.py",
        "    if name in reserved:\n",
        "    if name in ():\n",
        _k(ERRORS, "param_reserved"),
    ),
    Mutant(
        "loader-positive-zero",
        "a positive parameter may default to 0",
        "generator/spec.py",
        '"positive": value > 0,',
        '"positive": value >= 0,',
        ("tests/test_bad_specs.py", ERRORS),
    ),
    Mutant(
        "cli-check-stale-exit-0",
        "--check returns 0 on a stale tree",
        "generator/__main__.py",
        '            print(f"{len(problems)} file(s) in {shown}/ are stale: run `make gen`", '
        "file=sys.stderr)\n            return 1",
        '            print(f"{len(problems)} file(s) in {shown}/ are stale: run `make gen`", '
        "file=sys.stderr)\n            return 0",
        _k(ERRORS, "check_exit"),
    ),
    Mutant(
        "docs-origin-as-grad",
        "docs show the origin's formula where the gradient's belongs",
        "templates/docs/SURROGATE.md.jinja",
        r"\mathrm{origin}(x) = {{ v.origin }}",
        r"\mathrm{origin}(x) = {{ v.grad }}",
        _k(DOCS, "formulas_in_their_places"),
        regen=True,
        sample=True,
    ),
    Mutant(
        "docs-no-discrepancy-label",
        'docs without the "checked discrepancy" label',
        "templates/docs/SURROGATE.md.jinja",
        '{{ "Matches" if b.matches else "**Checked discrepancy**" }}',
        '{{ "Matches" if b.matches else "Checked" }}',
        _k(DOCS, "labelled"),
        regen=True,
    ),
    Mutant(
        "docstring-origin-as-grad",
        "docstrings show the origin's formula as the gradient",
        "generator/backends/docstrings.py",
        "grad = _formula(model.grad)",
        "grad = _formula(model.origin)",
        _k(DOCS, "docstrings"),
        regen=True,
    ),
    Mutant(
        "printer-min-as-max",
        "a printer that prints Min as max",
        "generator/backends/numba.py",
        'return "min(" + ", ".join',
        'return "max(" + ", ".join',
        ("tests/test_printers_numeric.py",),
        regen=True,
    ),
    Mutant(
        "printer-jax-max-as-minimum",
        "the JAX printer prints Max as jnp.minimum",
        "generator/backends/jax.py",
        'return self._nested("jnp.maximum", expr.args)',
        'return self._nested("jnp.minimum", expr.args)',
        ("tests/test_printers_numeric.py",),
        regen=True,
    ),
    Mutant(
        "template-cpu-bwd-drops-g",
        "Numba CPU backward ignores the incoming gradient",
        "templates/numba_cpu/SURROGATE.py.jinja",
        "return _like(x, g) * _grad({{ v.typed_call }})",
        "return _grad({{ v.typed_call }})",
        _k(STRICT, "scalar and numba_cpu-float32 and defaults and sigmoid"),
        regen=True,
    ),
    Mutant(
        "template-cuda-origin-kernel-grad",
        "CUDA origin kernels compute grad",
        "templates/numba_cuda/SURROGATE.py.jinja",
        "_{{ storage }}({{ fn }}_{{ scalar }}(_{{ scalar }}(x[_i]){{ args(v.params) }}))",
        "_{{ storage }}(grad_{{ scalar }}(_{{ scalar }}(x[_i]){{ args(v.params) }}))",
        _k(STRICT, "scalar and numba_cuda-float64 and defaults and sigmoid"),
        regen=True,
    ),
    Mutant(
        "jax-grad-param-rule-from-origin",
        "JAX's d grad / d parameter taken from the origin",
        "generator/backends/jax.py",
        "for p, partial in zip(spec.params, checked.partials[n], strict=True):",
        "for p, partial in zip(spec.params, checked.partials[0], strict=True):",
        _k(ENTRY, "parameter and sigmoid and grad"),
        regen=True,
    ),
    Mutant(
        "jax-cotangent-origin",
        "JAX backward multiplies by the origin instead of grad",
        "templates/jax/SURROGATE.py.jinja",
        "_rt.cotangent(_rt.upcast(_g) * grad({{ v.wide_call }}), x)",
        "_rt.cotangent(_rt.upcast(_g) * origin({{ v.wide_call }}), x)",
        _k(STRICT, "scalar and jax-float32 and defaults and sigmoid"),
        regen=True,
    ),
)


# --- running ----------------------------------------------------------------------------------


def _copy_tree(dest: Path) -> None:
    """Tracked and untracked (not ignored) files of the working tree."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (f.decode() for f in files)):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


SHIM_INIT = '''"""surrogen in a mutation copy: generated/, and the runtime, generator, templates."""
from pathlib import Path as _Path

__path__ = [{generated!r}, {parts!r}]
_init = _Path({generated!r}) / "__init__.py"
exec(compile(_init.read_text(), str(_init), "exec"))
'''


def _shim(tree: Path, shim: Path) -> None:
    """A ``surrogen`` package on PYTHONPATH whose parts are the copy's folders (symlinks, so that
    ``Path(__file__).resolve()`` in the generator finds the copy's root)."""
    parts = shim / "_parts"
    parts.mkdir(parents=True)
    for name in ("runtime", "generator", "templates"):
        (parts / name).symlink_to(tree / name, target_is_directory=True)
    (shim / "surrogen").mkdir()
    text = SHIM_INIT.format(generated=str(tree / "generated"), parts=str(parts))
    (shim / "surrogen" / "__init__.py").write_text(text)


def _env(tree: Path, shim: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(tree)])
    env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["NUMBA_CACHE_DIR"] = str(cache)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _pytest(tests: tuple[str, ...], tree: Path, env: dict[str, str]) -> tuple[int, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider"]
    command += ["-n", "0", *FRESHNESS, *tests]
    run = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    return run.returncode, run.stdout + run.stderr


def baseline_runs(mutants: list[Mutant]) -> list[tuple[str, ...]]:
    """One pytest run per test file covering every mutant's selection in it (their ``-k``
    expressions or'ed; the whole file where one mutant selects it all)."""
    per_file: dict[str, set[str] | None] = {}
    for m in mutants:
        args, k = list(m.tests), None
        if "-k" in args:
            k = args[args.index("-k") + 1]
            args = args[: args.index("-k")]
        for path in args:
            known = per_file.get(path, set())
            per_file[path] = None if k is None or known is None else known | {k}
    runs = []
    for path, ks in sorted(per_file.items()):
        runs.append(
            (path,) if ks is None else (path, "-k", " or ".join(f"({k})" for k in sorted(ks)))
        )
    return runs


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("FAILED ") or line.startswith("ERROR "):
            return line.split(" ", 1)[1].split(" - ")[0]
    return ""


def _regenerate(tree: Path, env: dict[str, str]) -> tuple[int, str]:
    run = subprocess.run(
        [sys.executable, "-m", "surrogen.generator"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return run.returncode, run.stdout + run.stderr


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, survived, equivalent, error, not applicable
    by: str  # the first failing test, or what went wrong
    seconds: float


def run_one(m: Mutant, tree: Path, env: dict[str, str], pristine: Path) -> Outcome:
    start = time.perf_counter()
    target = tree / m.path
    original = target.read_bytes()
    text = original.decode()
    if text.count(m.old) != 1:
        return Outcome(m, "not applicable", f"{text.count(m.old)} matches in {m.path}", 0.0)
    try:
        target.write_text(text.replace(m.old, m.new))
        if m.regen:
            rc, out = _regenerate(tree, env)
            if rc == 2:  # the generator's own checks refuse the mutated generator: a kill
                return Outcome(m, "killed", "the generator (exit 2)", time.perf_counter() - start)
            if rc != 0:
                return Outcome(m, "error", f"generator exit {rc}: {out[-300:]}", 0.0)
        rc, out = _pytest(m.tests, tree, env)
    finally:
        target.write_bytes(original)
        if m.regen:
            shutil.rmtree(tree / "generated")
            shutil.copytree(pristine, tree / "generated")
    seconds = time.perf_counter() - start
    if rc == 1:
        return Outcome(m, "killed", _first_failure(out), seconds)
    if rc == 0:
        return Outcome(m, "equivalent" if m.equivalent else "survived", "", seconds)
    return Outcome(m, "error", f"pytest exit {rc}: {out.strip().splitlines()[-1:]}", seconds)


def table(outcomes: list[Outcome]) -> str:
    rows = ["| mutant | kind | file | result | killed by |", "|---|---|---|---|---|"]
    for o in outcomes:
        by = o.by or (o.mutant.equivalent if o.status == "equivalent" else "")
        rows.append(
            f"| `{o.mutant.id}` | {o.mutant.kind} | `{o.mutant.path}` | {o.status} | {by} |"
        )
    return "\n".join(rows)


def summary(outcomes: list[Outcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    relevant = [o for o in outcomes if not o.mutant.equivalent]
    killed = sum(o.status == "killed" for o in relevant)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"{killed} of {len(relevant)} non-equivalent mutants killed ({parts})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true", help="the fast sample (CI)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants")
    parser.add_argument("--results", type=Path, help=f"write the table here (default {RESULTS})")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip running the selections unmutated first"
    )
    args = parser.parse_args(argv)
    chosen = [
        m
        for m in CATALOGUE
        if (not args.only or m.id in args.only) and (not args.sample or m.sample)
    ]
    if args.only and len(chosen) != len(set(args.only)):
        parser.error(f"unknown mutant id(s): {sorted(set(args.only) - {m.id for m in chosen})}")
    with tempfile.TemporaryDirectory(prefix="surrogen-mutate-") as tmp:
        tree, shim, cache = Path(tmp, "tree"), Path(tmp, "shim"), Path(tmp, "numba-cache")
        _copy_tree(tree)
        _shim(tree, shim)
        env = _env(tree, shim, cache)
        pristine = Path(tmp, "pristine-generated")
        shutil.copytree(tree / "generated", pristine)
        print(f"mutation check in {tree}: {len(chosen)} mutants", flush=True)
        if not args.no_baseline:
            for tests in baseline_runs(chosen):
                rc, out = _pytest(tests, tree, env)
                if rc != 0:
                    print(f"baseline fails for {' '.join(tests)}:\n{out[-3000:]}", file=sys.stderr)
                    return 1
            print("baseline: every selection passes unmutated", flush=True)
        outcomes = []
        for m in chosen:
            o = run_one(m, tree, env, pristine)
            outcomes.append(o)
            print(f"{o.status:>14}  {m.id:<32} {o.seconds:5.0f} s  {o.by}", flush=True)
    text = table(outcomes)
    print(f"\n{text}\n\n{summary(outcomes)}")
    results = args.results or (None if (args.sample or args.only) else RESULTS)
    if results is not None:
        results.parent.mkdir(parents=True, exist_ok=True)
        head = "# Mutation check (`make mutate`)\n\nGenerated by `tools/mutate.py`.\n\n"
        results.write_text(f"{head}{text}\n\n{summary(outcomes)}\n")
    bad = [o for o in outcomes if o.status in ("survived", "error", "not applicable")]
    bad += [o for o in outcomes if o.mutant.equivalent and o.status != "equivalent"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

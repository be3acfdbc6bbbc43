"""CLI: ``surrogen [--check] [--force] [--specs DIR] [--out DIR]``.

Also ``python -m surrogen.generator``, and ``make gen`` in the repository.

Generates one Python package from a folder of specs: ``OUT/jax``, ``OUT/numba_cpu``,
``OUT/numba_cuda`` and ``OUT/docs`` (importable as ``from OUT.jax import <name>``). Inside the
surrogen repository ``--specs`` and ``--out`` default to ``specs/`` and ``generated/``.

Exit status: 0 done (or fresh); 1 ``--check`` found stale, missing or left-over generated files;
2 a bad spec (``specs/NAME.yaml: <field>: <what is wrong>``, no traceback) or bad arguments;
3 writing would overwrite or delete a file that surrogen did not write, or one edited by hand
(nothing is written; the message names each file).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import emit
from .backends import BACKENDS, reserved_names
from .backends.base import Backend
from .backends.libraries import LIBRARIES
from .checks import CheckError, check_all
from .spec import Spec, SpecError, load_specs

# The repository's own folders, when this code runs from a checkout (not from an installed wheel).
_REPO = Path(__file__).resolve().parents[1]
REPO_SPECS, REPO_OUT = _REPO / "specs", _REPO / "generated"


def _defaults(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    in_repo = REPO_SPECS.is_dir() and (_REPO / "pyproject.toml").is_file()
    for name, default in (("specs", REPO_SPECS), ("out", REPO_OUT)):
        if getattr(args, name) is None:
            if not in_repo:
                parser.error(f"--{name} is required (e.g. surrogen --specs myspecs --out mypkg)")
            setattr(args, name, default)


def generate(
    specs_dir: Path, backends: tuple[Backend, ...] = BACKENDS
) -> tuple[list[Spec], dict[str, bytes]]:
    """Load, check and render every spec of ``specs_dir``; raises SpecError/CheckError."""
    specs = load_specs(specs_dir, reserved=reserved_names(backends), libraries=LIBRARIES)
    if not specs:
        raise SpecError(f"{specs_dir}: (folder): no *.yaml spec files")
    # A backend's runtime library (JAX, Numba) may run threads of its own: then no fork.
    loaded = any(module in sys.modules for b in backends for module in b.requires)
    checked = check_all(specs, fork_safe=not loaded)
    for c in checked:
        for caveat in c.caveats:
            print(f"{c.model.spec.path}: note: {caveat} (see its docs page)", file=sys.stderr)
    return specs, emit.render_all(checked, backends)


def main(argv: list[str] | None = None, backends: tuple[Backend, ...] = BACKENDS) -> int:
    parser = argparse.ArgumentParser(prog="surrogen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    parser.add_argument(
        "--force", action="store_true", help="overwrite generated files that were edited by hand"
    )
    parser.add_argument("--specs", type=Path, help="spec folder (default: the repo's specs/)")
    parser.add_argument("--out", type=Path, help="output package folder (default: generated/)")
    args = parser.parse_args(argv)
    _defaults(args, parser)
    start = time.perf_counter()
    try:
        specs, files = generate(args.specs, backends)
    except (SpecError, CheckError) as err:
        print(err, file=sys.stderr)
        return 2
    shown = args.out.name
    if args.check:
        problems, notes = emit.compare(files, args.out)
        for line in [*problems, *notes]:
            print(line, file=sys.stderr)
        if problems:
            print(f"{len(problems)} file(s) in {shown}/ are stale: run `make gen`", file=sys.stderr)
            return 1
        print(f"{shown}/ is up to date ({len(files)} files, {len(specs)} specs)")
        return 0
    todo = emit.plan(files, args.out, force=args.force)
    for rel in todo.kept:
        print(f"not written by surrogen, left alone: {shown}/{rel}", file=sys.stderr)
    if todo.conflicts:
        for line in todo.conflicts:
            print(line, file=sys.stderr)
        print(f"nothing written to {shown}/", file=sys.stderr)
        return 3
    emit.write(todo, args.out)
    elapsed = time.perf_counter() - start
    print(
        f"surrogen: {len(specs)} specs -> {shown}/: {len(todo.write)} written,"
        f" {len(todo.remove)} removed, {todo.unchanged} unchanged, {len(todo.kept)} left alone"
        f" ({elapsed:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CLI: ``python -m generator [--check] [--specs DIR] [--out DIR]`` (also the ``surrogen`` script).

Exit status: 0 done (or fresh), 1 ``--check`` found stale/missing/orphaned files, 2 a bad spec.
Spec errors print as ``specs/NAME.yaml: <field>: <what is wrong>`` with no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import emit
from .checks import CheckedModel, CheckError, run_checks
from .spec import Spec, SpecError, load_specs
from .symbolic import build_model


def check_spec(spec: Spec) -> CheckedModel:
    """Stages 2-3 for one spec; a SymPy failure on odd input is reported as the spec's error."""
    try:
        return run_checks(build_model(spec))
    except (SpecError, CheckError):
        raise
    except (RecursionError, MemoryError):
        raise CheckError(f"{spec.path}: origin: expression too large to analyse") from None
    except Exception as err:  # noqa: BLE001 (SymPy raises many types on unusual expressions)
        raise CheckError(
            f"{spec.path}: origin: SymPy could not analyse it ({type(err).__name__}: {err})"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="surrogen", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with generated/, write nothing"
    )
    parser.add_argument("--specs", type=Path, default=emit.ROOT / "specs", help="spec folder")
    parser.add_argument("--out", type=Path, default=emit.ROOT / "generated", help="output folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        specs = load_specs(args.specs)
        if not specs:
            raise SpecError(f"{args.specs}: (folder): no *.yaml spec files")
        checked = [check_spec(spec) for spec in specs]
    except (SpecError, CheckError) as err:
        print(err, file=sys.stderr)
        return 2
    files = emit.render_all(checked)
    if args.check:
        problems = emit.compare(files, args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(
                f"{len(problems)} file(s) in {args.out.name}/ are stale: run `make gen`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out.name}/ is up to date ({len(files)} files, {len(specs)} specs)")
        return 0
    written, removed = emit.write(files, args.out)
    elapsed = time.perf_counter() - start
    print(
        f"surrogen: {len(specs)} specs -> {args.out.name}/: {written} written, {removed} removed,"
        f" {len(files) - written} unchanged ({elapsed:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

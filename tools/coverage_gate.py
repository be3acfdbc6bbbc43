"""Fail where a function body of a generated or runtime module never ran (``make coverage``).

Reads the combined coverage data, finds every function (and method) in ``generated/{jax,numba_cpu,
numba_cuda}/*.py`` and ``runtime/*.py`` with Python's ``ast``, and lists those none of whose body
statements (docstring aside) was executed. Prints the line coverage of those files too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    [p for d in ("jax", "numba_cpu", "numba_cuda") for p in (ROOT / "generated" / d).glob("*.py")]
    + list((ROOT / "runtime").glob("*.py"))
)


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            if body:
                yield (
                    node.name,
                    {n.lineno for stmt in body for n in ast.walk(stmt) if hasattr(n, "lineno")},
                )


def main() -> int:
    cov = coverage.Coverage(data_file=str(ROOT / ".coverage"))
    cov.load()
    data = cov.get_data()
    never, total, hit = [], 0, 0
    for path in FILES:
        executed = set(data.lines(str(path)) or ())
        _, statements, _, missing, _ = cov.analysis2(str(path))
        total += len(statements)
        hit += len(statements) - len(missing)
        for name, lines in _functions(ast.parse(path.read_text())):
            if not lines & executed:
                never.append(f"{path.relative_to(ROOT)}: {name}")
    print(f"{len(FILES)} files, {hit} of {total} statements executed ({100 * hit / total:.1f}%)")
    if never:
        print(f"{len(never)} function bodies never ran:\n  " + "\n  ".join(never))
        return 1
    print("every function body of the generated and runtime modules ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures. Every test that takes ``name`` runs once per spec in specs/."""

import os

# CI has no GPU: CUDA kernels run on Numba's simulator unless told otherwise (make test-gpu).
# Must be set before the first `import numba`.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest

from tests.reference import SPEC_NAMES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A new spec file gets every spec-parametrised test without touching this folder.
    def argnames(marker: pytest.Mark) -> list[str]:
        names = marker.args[0]
        return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)

    explicit = any("name" in argnames(m) for m in metafunc.definition.iter_markers("parametrize"))
    if "name" in metafunc.fixturenames and not explicit:
        metafunc.parametrize("name", SPEC_NAMES)

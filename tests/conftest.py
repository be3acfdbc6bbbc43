"""Shared fixtures. Every test that takes ``name`` runs once per spec in specs/."""

import os

# CI has no GPU: CUDA kernels run on Numba's simulator unless told otherwise (make test-gpu).
# Must be set before the first `import numba`.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest  # noqa: E402

from tests.reference import SPEC_NAMES  # noqa: E402


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A new spec file gets every spec-parametrised test without touching this folder.
    if "name" in metafunc.fixturenames:
        metafunc.parametrize("name", SPEC_NAMES)

"""The mutation check's catalogue (tools/mutate.py) stays runnable, and the Numba CPU bodies run as
Python (NUMBA_DISABLE_JIT=1), which ``make coverage`` needs to see them.

The mutation check itself runs by ``make mutate`` (all) and ``make mutate-sample`` (CI): each
planted bug must fail a test. Here only what keeps it honest: every mutant still applies to the
code (its text occurs exactly once), its tests exist, and the sample spans the layers.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.reference import ROOT


def _catalogue():
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate"] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module.CATALOGUE


CATALOGUE = _catalogue()


def test_ids_are_unique_and_the_sample_spans_the_layers():
    ids = [m.id for m in CATALOGUE]
    assert len(ids) == len(set(ids))
    sample = [m for m in CATALOGUE if m.sample]
    assert {m.path.split("/")[0] for m in sample} >= {"generated", "runtime", "generator"}
    assert any(m.regen for m in sample) and 3 <= len(sample) <= 8


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.id for m in CATALOGUE])
def test_mutant_applies_once_and_its_tests_exist(mutant):
    text = (ROOT / mutant.path).read_text()
    assert text.count(mutant.old) == 1, (
        f"{mutant.path}: the mutated text moved; update tools/mutate.py"
    )
    assert mutant.old != mutant.new
    args = list(mutant.tests)
    files = [a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1 : i] != ["-k"]]
    assert files and all((ROOT / f).is_file() for f in files), mutant.tests


@pytest.mark.slow
def test_numba_cpu_bodies_run_as_python():
    """Under NUMBA_DISABLE_JIT=1 every generated body runs as Python and agrees with the compiled
    ufunc (the branch-free ``select`` needs its pure-Python fallback for that)."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "coverage_numba_cpu.py")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]

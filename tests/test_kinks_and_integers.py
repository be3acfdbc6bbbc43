"""Kinks and integer parameters, on specs generated into a temporary package.

* A q-PseudoSpike origin written with sign(x): its derivative has sign(x)**2, which SymPy
  evaluates to 0 at x = 0 while both one-sided limits (and the emitted code) are 1. The model
  takes the limit, so docs, plots, references and every backend agree at the kink.
* A parameter with ``domain: integer`` gets no derivative (no finite difference in it), is
  perturbed by +1 in the checks, and every backend is tested at integer values.
"""

import importlib
import sys

import mpmath
import numpy as np
import pytest
import sympy

from surrogen.generator.__main__ import main
from surrogen.generator.checks import run_checks
from surrogen.generator.numeric import param_sets
from surrogen.generator.spec import load_spec
from surrogen.generator.symbolic import build_model

jax = pytest.importorskip("jax")
jnp = jax.numpy
pytest.importorskip("numba")

pytestmark = pytest.mark.xdist_group("generator")

Q_PSEUDO_SPIKE = """\
name: q_pseudo_spike
title: q-PseudoSpike
summary: Heavy-tailed surrogate of Herranz-Celotti and Rouat 2024, origin written with sign(x).
params:
  alpha: {default: 2.0, domain: positive, doc: "Tail parameter (> 1)."}
origin: 1/2 + sign(x)*(alpha - 1)/(2*(1 - alpha))*((1 + 2*Abs(x)/(alpha - 1))**(1 - alpha) - 1)
backward:
  - source: spikingjelly QPseudoSpike
    expr: (1 + 2*Abs(x)/(alpha - 1))**(-alpha)
"""

POWER_STEP = """\
name: power_step
title: Power step
summary: A step whose tails decay as a power with an integer exponent.
params:
  n: {default: 2, domain: integer, doc: "The exponent of the tail (an integer >= 1)."}
  width: {default: 0.5, domain: positive, doc: "The width of the step."}
origin: 1/2 + sign(x)*(1 - (1 + Abs(x)/width)**(-n))/2
backward:
  - source: this test
    expr: n/(2*width)*(1 + Abs(x)/width)**(-n - 1)
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinks")
    specs = root / "specs"
    specs.mkdir()
    (specs / "q_pseudo_spike.yaml").write_text(Q_PSEUDO_SPIKE)
    (specs / "power_step.yaml").write_text(POWER_STEP)
    assert main(["--specs", str(specs), "--out", str(root / "kinkpkg")]) == 0
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in [m for m in sys.modules if m.split(".")[0] == "kinkpkg"]:
        del sys.modules[name]


def model(root, name):
    return build_model(load_spec(root / "specs" / f"{name}.yaml", f"specs/{name}.yaml"))


def test_the_model_takes_the_limit_at_a_sign_kink(package):
    m = model(package, "q_pseudo_spike")
    assert not m.grad.has(sympy.Pow(sympy.sign(m.x), 2))
    at_zero = m.grad.subs({m.x: 0, m.params[0]: 2})
    assert at_zero == 1  # the limit from both sides, not SymPy's sign(0)**2 = 0
    f = sympy.lambdify((m.x, *m.params), m.grad, "mpmath")
    with mpmath.workdps(30):
        for side in (-1, 1):
            assert abs(f(side * mpmath.mpf("1e-25"), 2) - 1) < 1e-20


def test_docs_formula_and_plot_agree_with_the_kernels(package):
    page = (package / "kinkpkg" / "docs" / "q_pseudo_spike.md").read_text()
    assert "sign}^{2}" not in page and "sign}{\\left(x \\right)}^{2}" not in page
    c = run_checks(model(package, "q_pseudo_spike"))
    grad = sympy.lambdify((c.model.x, *c.model.params), c.model.grad, "numpy")
    x = np.array([-1.0, -1e-30, 0.0, -0.0, 1e-30, 1.0])
    want = grad(x, 2.0)  # what the docs formula and the plot evaluate
    assert want[2] == want[3] == 1.0
    jax_mod = importlib.import_module("kinkpkg.jax.q_pseudo_spike")
    cpu = importlib.import_module("kinkpkg.numba_cpu.q_pseudo_spike")
    gpu = importlib.import_module("kinkpkg.numba_cuda.q_pseudo_spike")
    for got in (
        np.asarray(jax_mod.grad(jnp.asarray(x, jnp.float32))),
        np.asarray(jax.vmap(jax.grad(jax_mod.spike))(jnp.asarray(x, jnp.float32))),
        cpu.grad(x, 2.0),
        gpu.grad(x, 2.0),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_integer_parameters_are_perturbed_by_one_and_get_no_derivative(package):
    m = model(package, "power_step")
    assert [float(ps[0]) for ps in param_sets(m)] == [2.0, 3.0]
    c = run_checks(m)
    assert all(row[0] is None for row in c.partials)  # no derivative in n
    assert all(row[1] is not None for row in c.partials)


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_integer_parameter_on_every_backend_at_integer_values(package, n):
    width = 0.5
    xs = np.array([-30.0, -2.0, -0.3, -1e-3, 1e-3, 0.3, 2.0, 30.0])
    with mpmath.workdps(30):
        want = np.array(
            [float(n / (2 * width) * (1 + abs(mpmath.mpf(x)) / width) ** (-n - 1)) for x in xs]
        )
    jax_mod = importlib.import_module("kinkpkg.jax.power_step")
    cpu = importlib.import_module("kinkpkg.numba_cpu.power_step")
    gpu = importlib.import_module("kinkpkg.numba_cuda.power_step")
    x32 = xs.astype(np.float32)
    for got in (
        np.asarray(jax_mod.grad(jnp.asarray(x32), n, width)),
        np.asarray(jax.vmap(jax.grad(lambda v: jax_mod.spike(v, n, width)))(jnp.asarray(x32))),
        cpu.grad(x32, n, width),
        cpu.grad(x32, np.int64(n), width),
        gpu.grad(x32, n, width),
    ):
        np.testing.assert_allclose(got, want, rtol=2e-6)
    # learnable: the real parameter gets d origin / d width, the integer one nothing
    g = jax.grad(lambda p: jax_mod.spike_learnable(jnp.asarray(x32), *p).sum())((float(n), width))
    assert float(g[0]) == 0.0 and float(g[1]) != 0.0

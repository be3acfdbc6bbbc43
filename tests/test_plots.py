"""The docs' plots and numbers are right at their edges: exact zeros drawn as zero, undefined
values left out, a parameter value at a pole not drawn (with a note), both tails in range; the
peak and area of the comparison page agree with closed forms; the API sections come from the
registry of backends.

Values are compared with ``tests/reference.py`` (SymPy's derivative of the spec, evaluated by
mpmath), never with the plotting code's own evaluator.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy

from surrogen.generator import plots
from surrogen.generator.backends import BACKENDS, reserved_names
from surrogen.generator.backends.docs import DocsBackend
from surrogen.generator.checks import check_spec
from surrogen.generator.numeric import Evaluator
from surrogen.generator.spec import load_spec
from tests.reference import SPEC_NAMES, checked, defaults, mp_params
from tests.toy_backend import NumpyBackend

pytestmark = pytest.mark.xdist_group("plots")

# The q-PseudoSpike of SpikingJelly (d = q - 1): undefined everywhere at q = 1, which is half the
# default q = 2, so the page plot must leave that value out and say why.
Q_PSEUDO_SPIKE = """\
name: q_pseudo_spike
title: q-PseudoSpike
summary: Power-law tails (SpikingJelly QPseudoSpike).
params:
  q: {default: 2.0, domain: positive, doc: "Tail exponent; the formula needs q > 1."}
origin: 1/2 - sign(x)/2*((1 + 2*Abs(x)/(q - 1))**(1 - q) - 1)
backward:
  - source: SpikingJelly QPseudoSpike
    expr: (1 + 2*Abs(x)/(q - 1))**(-q)
properties: [normalized, monotone, even_grad]
"""


def _reference_grad(name: str, xs: np.ndarray, params: tuple | None = None) -> np.ndarray:
    """d(origin)/dx at 50 digits from SymPy's own (pointwise) derivative of the spec's origin, as
    ``tests/reference.py`` evaluates it."""
    m = checked(name).model
    f = sympy.lambdify((m.x, *m.params), m.grad, "mpmath", dummify=True)
    with mpmath.workdps(50):
        out = []
        for x in xs:
            try:
                ps = params if params is not None else defaults(name)
                value = f(mpmath.mpf(float(x)), *mp_params(name, ps))
                out.append(float(value.real) if isinstance(value, mpmath.mpc) else float(value))
            except (ZeroDivisionError, ValueError):
                out.append(math.nan)
    return np.array(out)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_gradient_curve_matches_the_reference_and_keeps_exact_zeros(name):
    c = checked(name)
    xs = plots.grid(4.0, c.breakpoints, 201)
    params = tuple(mpmath.mpf(p) for p in defaults(name))
    curve = plots.sample(Evaluator(c.model, c.model.grad), xs, params)
    want = _reference_grad(name, xs)
    assert not np.isnan(curve.ys).any(), name  # every spec is finite on the real line
    # Where a gradient changes sign as a sum of terms (a Fourier series), its zeros are
    # cancellations: the curve's working precision leaves ~1e-41 of the peak there, not 1e-51.
    cancels = bool((want < 0).any() and (want > 0).any())
    atol = 1e-30 * float(np.abs(want).max()) if cancels else 1e-300
    np.testing.assert_allclose(curve.ys, want, rtol=1e-12, atol=atol)
    zeros = want == 0.0
    assert (curve.ys[zeros] == 0.0).all(), f"{name}: an exact zero is not drawn as zero"


def test_undefined_values_are_left_out_and_zeros_kept():
    c = checked(SPEC_NAMES[0])
    x = c.model.x
    xs = np.array([-1.0, 0.0, 1.0])
    params = tuple(mpmath.mpf(p) for p in defaults(SPEC_NAMES[0]))
    pole = plots.sample(Evaluator(c.model, 1 / x), xs, params)
    assert np.isnan(pole.ys[1]) and pole.ys[0] == -1.0 and pole.ys[2] == 1.0
    assert pole.undefined == 1
    ramp = plots.sample(Evaluator(c.model, sympy.Piecewise((0, x < 0), (x, True))), xs, params)
    assert ramp.ys.tolist() == [0.0, 0.0, 1.0]  # not NaN: ``value or nan`` would lose the zeros
    complex_log = plots.sample(Evaluator(c.model, sympy.log(x)), xs, params)
    assert np.isnan(complex_log.ys[:2]).all() and complex_log.ys[2] == 0.0


def test_a_parameter_value_at_a_pole_is_not_drawn(tmp_path):
    (tmp_path / "q_pseudo_spike.yaml").write_text(Q_PSEUDO_SPIKE)
    c = check_spec(load_spec(tmp_path / "q_pseudo_spike.yaml", reserved=reserved_names()))
    plot = plots.page_plot(c)
    assert plot.drawn == ("q = 2", "q = 4")
    (note,) = [n for n in plot.notes if n.startswith("q = 1 ")]
    assert "not drawn" in note and "pole in q" in note
    assert plot.png.startswith(b"\x89PNG")


def test_values_outside_the_domain_are_not_drawn():
    param = checked(SPEC_NAMES[0]).model.spec.params[0]
    nonneg = type(param)(name="h", default=0.0, domain="nonnegative", doc="")
    assert plots._candidates(nonneg) == [0.0, 0.5, 1.0]
    integer = type(param)(name="n", default=1, domain="integer", doc="")
    assert plots._candidates(integer) == [0, 1, 2]
    positive = type(param)(name="a", default=2.0, domain="positive", doc="")
    assert not plots._in_domain(-1.0, positive) and not plots._in_domain(0.0, positive)
    assert plots._in_domain(0.0, nonneg) and not plots._in_domain(0.5, integer)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_plot_range_shows_breakpoints_and_both_tails(name):
    c = checked(name)
    plot = plots.page_plot(c)
    w = plot.half_width
    assert all(abs(b) * plots.BREAKPOINT_MARGIN <= w + 1e-12 for b in c.breakpoints), name
    drawn, _ = plots.variants(c)
    assert [v.label for v in drawn if v.label] == list(plot.drawn)
    xs = np.linspace(-w, w, 2001)
    tails = []
    for v in drawn:  # each drawn parameter value: |grad| at the edges relative to its peak
        edges = _reference_grad(name, np.array([-w, w]), v.params)
        tails.append(np.abs(edges).max() / np.nanmax(np.abs(_reference_grad(name, xs, v.params))))
    heavy = [n for n in plot.notes if "tails are heavier" in n]
    assert bool(heavy) == (max(tails) > plots.TAIL_FRACTION), (name, tails, heavy)


def test_peak_and_area_agree_with_closed_forms():
    """Closed forms from the literature: the sigmoid's gradient peaks at alpha/4 with area 1,
    SuperSpike's peaks at 1 with area 2/beta, the multi-Gaussian integrates to scale*(1 - h)."""
    present = set(SPEC_NAMES)
    if "sigmoid" in present:
        s = plots.shape(checked("sigmoid"))
        (alpha,) = defaults("sigmoid")
        assert s.peak == pytest.approx(alpha / 4, rel=1e-12) and s.peak_x == 0.0
        assert s.area == pytest.approx(1.0, rel=1e-12)
    if "superspike" in present:
        s = plots.shape(checked("superspike"))
        (beta,) = defaults("superspike")
        assert s.peak == pytest.approx(1.0, rel=1e-12)
        assert s.area == pytest.approx(2 / beta, rel=1e-12)
    if "multi_gaussian" in present:
        h, _, _, scale = defaults("multi_gaussian")
        assert plots.shape(checked("multi_gaussian")).area == pytest.approx(scale * (1 - h))
    if "straight_through" in present:
        assert plots.shape(checked("straight_through")).area is None  # origin = x is unbounded


def test_api_sections_come_from_the_registry():
    """Every registered backend with Python modules gets a section; a new one needs no edit."""

    class WithModules(NumpyBackend):
        requires = ("numpy",)

    name = SPEC_NAMES[0]
    c = checked(name)
    docs = DocsBackend(peers=(*BACKENDS, WithModules()))
    sections = [(b.name, a) for b in (*BACKENDS, WithModules()) if (a := b.api_doc(c)) is not None]
    modules = [a.module for _, a in sections]
    assert f"surrogen.jax.{name}" in modules and f"surrogen.numpy.{name}" in modules
    toy = dict(sections)["numpy"]
    assert (toy.title, toy.extra, toy.example) == ("numpy", "numpy", "")
    assert all(b.api_doc(c) is None for b in BACKENDS if not b.requires)
    page = next(o for o in docs.outputs([c]) if o.path == f"docs/{name}.md")
    assert [a.module for _, a in page.context["v"].apis] == modules

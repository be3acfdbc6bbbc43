"""Stable forms found by the generator alone: no shipped spec carries an ``origin_impl`` or a
``grad_impl``; origins and gradients such as x/(1 + b|x|), x/sqrt(x**2 + a**2), exp-based and
Piecewise ones get forms that are finite and accurate on the whole float range, each proven
equal (40 digits) before use; a spec that still cannot be stabilised gets an error naming the
point; the keys still work for users who want them."""

import textwrap
from pathlib import Path

import numpy as np
import pytest

from surrogen.generator import forms, numeric
from surrogen.generator.checks import CheckError, run_checks
from surrogen.generator.spec import load_spec
from surrogen.generator.symbolic import build_model
from tests.reference import ROOT, SPECS, checked


def model_from(tmp_path: Path, text: str):
    name = text.split("name:")[1].split()[0]
    path = tmp_path / "specs" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return build_model(load_spec(path))


def spec_text(name, origin, backward, params="a: {default: 2.0, domain: positive, doc: d}"):
    return f"""\
name: {name}
title: t
summary: s
params:
  {params}
origin: {origin}
backward:
  - source: S
    expr: {backward}
"""


def test_no_shipped_spec_needs_an_impl():
    for spec in SPECS.values():
        assert spec.origin_impl is None and spec.grad_impl is None, spec.path
    text = "\n".join(p.read_text() for p in (ROOT / "specs").glob("*.yaml"))
    assert "origin_impl" not in text and "grad_impl" not in text


def _assert_sound(c, ulps=None):
    """Proven equal, finite wherever the true value is, never off by 1e-4 (float32) or 1e-10
    (float64) on the extreme and dense grids; within ``ulps`` float32 epsilons if given (the
    accuracy targets themselves are in test_accuracy.py)."""
    m = c.model
    for emitted, exact in ((c.emitted_origin, m.origin), (c.emitted_grad, m.grad)):
        assert numeric.worst_difference(m, emitted, exact) is None
        score = forms.float_score(m, emitted, exact)
        assert score.nonfinite == 0 and score.wrong == 0, score.first_bad
        if ulps is not None:
            assert score.max_rel_f32 <= ulps * np.finfo(np.float32).eps, score


def test_superspike_origin_is_found_without_origin_impl():
    c = checked("superspike")
    assert forms.float_score(c.model, c.model.origin, c.model.origin).nonfinite > 0  # inf/inf
    _assert_sound(c, ulps=4)


@pytest.mark.parametrize(
    "origin, backward",
    [
        ("x/(2*sqrt(x**2 + a**2)) + 1/2", "a**2/(2*(x**2 + a**2)**(3/2))"),  # algebraic sigmoid
        ("x/(2*(1 + a*Abs(x))) + 1/2", "1/(2*(1 + a*Abs(x))**2)"),  # fast sigmoid
        ("1/(1 + exp(-a*x))", "a*exp(-a*x)/(1 + exp(-a*x))**2"),  # logistic
        ("(1 + tanh(a*x))/2", "a*(1 - tanh(a*x)**2)/2"),  # tanh
        ("erfc(-a*x)/2", "a/sqrt(pi)*exp(-a**2*x**2)"),  # erf
        (
            "Piecewise((exp(a*x)/2, x < 0), (1 - exp(-a*x)/2, True))",
            "a*exp(-a*Abs(x))/2",
        ),  # Laplace
    ],
)
def test_minimal_specs_get_finite_accurate_forms(tmp_path, origin, backward):
    c = run_checks(model_from(tmp_path, spec_text("smooth_step", origin, backward)))
    _assert_sound(c)


def test_the_impl_keys_still_work_and_are_proven(tmp_path):
    text = spec_text("fast_sigmoid", "x/(1 + a*Abs(x)) + 1/a", "1/(1 + a*Abs(x))**2")
    good = text + "origin_impl: (1 + sign(x)*(1 - 1/(1 + a*Abs(x))))/a\n"
    c = run_checks(model_from(tmp_path, good))
    assert c.emitted_origin == c.model.origin_impl
    bad = text + "origin_impl: (1 + sign(x)*(1 - 1/(1 + a*Abs(x))))/(2*a)\n"
    with pytest.raises(CheckError, match=r"origin_impl: differs from origin at x = "):
        run_checks(model_from(tmp_path, bad))


def test_a_spec_that_cannot_be_stabilised_names_the_point(tmp_path):
    """cos(x**2) at x = 1e30 in float32 is cos(inf) = NaN while the true value is finite: no
    rewrite (argument reduction of x**2 would be needed) fixes it, and the error says where."""
    text = spec_text("wobble", "x + sin(x**2)", "1 + 2*x*cos(x**2)")
    with pytest.raises(CheckError) as err:
        run_checks(model_from(tmp_path, text))
    message = str(err.value)
    assert message.startswith("specs/wobble.yaml: origin: the emitted ")
    assert "at x = " in message and "where the true value is" in message

"""Stage 3: identity checks, properties, and the choice of a numerically stable emitted form."""

import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy

from surrogen.generator import forms, numeric
from surrogen.generator.checks import CheckError, run_checks
from surrogen.generator.spec import load_spec
from surrogen.generator.symbolic import build_model
from tests.reference import SPECS, checked


def model_from(tmp_path: Path, text: str):
    name = text.split("name:")[1].split()[0]
    path = tmp_path / "specs" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return build_model(load_spec(path))


SIGMOID = """\
name: sig
title: s
summary: s
params:
  alpha: {default: 4.0, domain: positive, doc: "d"}
origin: 1/(1 + exp(-alpha*x))
backward:
  - source: S
    expr: BACKWARD
"""


def test_wrong_backward_names_source_and_point(tmp_path):
    m = model_from(tmp_path, SIGMOID.replace("BACKWARD", "exp(-alpha*x)/(1 + exp(-alpha*x))**2"))
    with pytest.raises(CheckError) as err:
        run_checks(m)
    text = str(err.value)
    assert text.startswith("specs/sig.yaml: backward[0]: S: differs at x = ")
    assert "alpha = 4.0" in text and "quoted" in text and "d(origin)/dx" in text


def test_formula_right_only_at_the_defaults_is_caught(tmp_path):
    """alpha/4 * 4*s*(1-s) with a hard-coded 4 equals the derivative only when alpha = 4."""
    m = model_from(tmp_path, SIGMOID.replace("BACKWARD", "4*exp(-alpha*x)/(1 + exp(-alpha*x))**2"))
    with pytest.raises(CheckError, match=r"alpha = 5\.48"):
        run_checks(m)


def test_every_spec_checks_and_every_mismatch_is_real(name):
    c = checked(name)
    for verdict, entry in zip(c.backward, SPECS[name].backward, strict=True):
        assert verdict.matches == (entry.expect == "match"), verdict.how
        if not verdict.matches:
            assert verdict.how.startswith("differs at x = ")


def test_raw_sigmoid_derivative_is_nan_in_float32_and_is_not_emitted():
    c = checked("sigmoid")
    raw = forms.float_score(c.model, c.model.grad, c.model.grad)
    assert raw.nonfinite > 0 and "nan" in raw.first_bad  # inf/inf for alpha*x < -88
    assert c.emitted_form != "raw derivative"
    emitted = forms.float_score(c.model, c.emitted_grad, c.model.grad)
    assert emitted.nonfinite == 0 and emitted.wrong == 0


def test_wrong_grad_impl_is_rejected(tmp_path):
    text = SIGMOID.replace("BACKWARD", "alpha*exp(-alpha*x)/(1 + exp(-alpha*x))**2")
    text += "grad_impl: alpha/((1 + exp(-alpha*x))*(1 + exp(alpha*x)*2))\n"
    with pytest.raises(
        CheckError, match=r"^specs/sig.yaml: grad_impl: differs from d\(origin\)/dx at x = "
    ):
        run_checks(model_from(tmp_path, text))


def test_numeric_fallback_proves_piecewise_identities():
    """Max/Abs against Piecewise: simplify is never tried on Piecewise; 40-digit samples decide."""
    m = checked("piecewise_quadratic").model
    a = m.params[0]
    same = sympy.Max(0, a - a**2 * sympy.Abs(m.x))
    assert numeric.worst_difference(m, same, m.grad) is None
    shifted = sympy.Max(0, a - a**2 * sympy.Abs(m.x - sympy.Rational(1, 10**6)))
    assert numeric.worst_difference(m, shifted, m.grad) is not None


def test_samples_cover_both_sides_of_each_breakpoint_but_not_the_breakpoint():
    m = checked("rectangular").model
    params = numeric.param_sets(m)[0]
    xs = [float(v) for v in numeric.sample_points(m, params)]
    for b in (-0.5, 0.5):
        assert b not in xs
        assert any(b - 1e-9 < v < b for v in xs) and any(b < v < b + 1e-9 for v in xs)
    assert len(xs) >= 300


def test_false_property_reports_values(tmp_path):
    text = SIGMOID.replace("BACKWARD", "alpha*exp(-alpha*x)/(1 + exp(-alpha*x))**2").replace(
        "1/(1 + exp(-alpha*x))", "2/(1 + exp(-alpha*x))"
    )
    text = text.replace("expr: alpha*", "expr: 2*alpha*") + "properties: [normalized]\n"
    with pytest.raises(
        CheckError, match=r"properties: normalized does not hold: .*origin\(\+inf\) = 2\.0"
    ):
        run_checks(model_from(tmp_path, text))


def test_discontinuous_origin_is_rejected(tmp_path):
    text = """\
    name: jump
    title: j
    summary: j
    origin: Piecewise((0, x < 0), (x + 1/2, True))
    backward:
      - source: S
        expr: Piecewise((0, x < 0), (1, True))
    """
    with pytest.raises(CheckError, match=r"origin: not continuous at x = 0"):
        run_checks(model_from(tmp_path, text))


def test_float_grid_contains_the_extreme_values():
    xs = forms.float_grid(checked("sigmoid").model, np.dtype(np.float32))
    for v in (0.0, 1e-30, -1e30, np.float32(3e38), np.inf, -np.inf):
        assert np.any(xs == np.float32(v))
    assert np.any(np.signbit(xs) & (xs == 0))  # -0.0

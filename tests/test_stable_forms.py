"""Stable forms found by the generator alone: no shipped spec carries an ``origin_impl`` or a
``grad_impl``; origins and gradients such as x/(1 + b|x|), x/sqrt(x**2 + a**2), exp-based and
Piecewise ones get forms that are finite and accurate on the whole float range, each proven
equal (40 digits) before use; a spec that still cannot be stabilised gets an error naming the
point; the keys still work for users who want them."""

import contextlib
import importlib
import textwrap
from pathlib import Path

import mpmath
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


def _ulps(got: np.ndarray, truth: list, dtype) -> float:
    """The largest error of ``got`` in ulps of ``dtype`` at each true value (mpmath)."""
    worst = 0.0
    for y, t in zip(got.tolist(), truth, strict=True):
        ulp = float(np.spacing(dtype(abs(float(t)))))
        worst = max(worst, float(abs(mpmath.mpf(y) - t)) / ulp)
    return worst


@pytest.mark.parametrize("backend", ["jax", "numba_cpu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cancelling_quadratics_are_evaluated_factored(backend, dtype):
    """alpha - alpha**2*x**2 (truncated_parabola's gradient) at alpha = 1 is 1 - x**2, which
    cancels near its zeros at x = +-1 (57 ulp in float32 as written); the origin branch
    x**2/2 + x + 1/2 of piecewise_quadratic is (1 + x)**2/2, which cancels to nothing near
    x = -1. The generator writes the first as a difference of squares and the second as a square
    (truth: mpmath at 50 digits, from the exact input)."""
    x64 = contextlib.nullcontext()
    if backend == "jax":
        jax = pytest.importorskip("jax")
        x64 = jax.enable_x64(dtype == np.float64)
    with x64, mpmath.workdps(50):
        _check_factored(backend, dtype)


def _check_factored(backend, dtype):
    tp = importlib.import_module(f"generated.{backend}.truncated_parabola")
    pq = importlib.import_module(f"generated.{backend}.piecewise_quadratic")
    eps = float(np.finfo(dtype).eps)
    steps = np.array([1, 3, 17, 1000, 2**12, 2**16], dtype=np.float64) * eps
    xs = np.concatenate([1 - steps, -1 + steps, 1 - 2 * steps]).astype(dtype)
    exact = [mpmath.mpf(float(x)) for x in xs.tolist()]
    got = np.asarray(tp.grad(xs, dtype(1.0)))
    assert got.dtype == dtype
    assert _ulps(got, [1 - t * t for t in exact], dtype) <= 1.0
    left = xs[xs < 0]
    got = np.asarray(pq.origin(left, dtype(1.0)))
    truth = [(1 + mpmath.mpf(float(x))) ** 2 / 2 for x in left.tolist()]
    assert _ulps(got, truth, dtype) <= 2.0


@pytest.mark.parametrize(
    "origin, backward",
    [
        # a smooth step whose gradient 3*(a**2 - x**2)/(4*a**3) vanishes at the support's edges
        (
            "Piecewise((0, x < -a), (3*x/(4*a) - x**3/(4*a**3) + 1/2, x <= a), (1, True))",
            "Piecewise((3*(a**2 - x**2)/(4*a**3), Abs(x) <= a), (0, True))",
        ),
        # a triangle whose origin's left half (x + a)**2/(2*a**2) vanishes doubly at x = -a
        (
            "Piecewise((0, x < -a), (x/a - x*Abs(x)/(2*a**2) + 1/2, x <= a), (1, True))",
            "Piecewise((1/a - Abs(x)/a**2, Abs(x) <= a), (0, True))",
        ),
    ],
)
@pytest.mark.parametrize("a", ["1.0", "0.75"])
def test_minimal_specs_with_vanishing_quadratics_are_accurate(tmp_path, origin, backward, a):
    """Other quadratics of the same kinds, at parameters where the roots are exact in binary:
    the emitted forms are within 2 float32 epsilons on the float grids, where the forms as
    written lose most digits next to the zeros."""
    params = f"a: {{default: {a}, domain: positive, doc: d}}"
    c = run_checks(model_from(tmp_path, spec_text("bump", origin, backward, params)))
    _assert_sound(c, ulps=2)
    m = c.model
    written = forms.float_score(m, m.grad, m.grad).max_rel_f32
    written += forms.float_score(m, m.origin, m.origin).max_rel_f32
    assert written > 8 * np.finfo(np.float32).eps

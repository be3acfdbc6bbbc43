"""The generated docs say the right thing in the right place.

Docs pages: the origin's formula on the origin line and its derivative (computed here with SymPy,
never the origin) on the gradient line; each published formula labelled "Matches" or "**Checked
discrepancy**" as its spec file says, and a discrepancy's point and both values recomputed with
mpmath; the parameter table's defaults as in the spec file. Docstrings of the generated modules:
``origin(x) = `` and ``grad(x) = `` followed by the right formula.
"""

from __future__ import annotations

import importlib
import re

import mpmath
import pytest
import sympy
import yaml
from sympy.printing.latex import LatexPrinter

from surrogen.generator.symbolic import at_kinks_as_limits
from tests.reference import ROOT, SPECS, checked, has_origin, lambdify_mpmath

DOCS = ROOT / "generated" / "docs"


def latex(expr: sympy.Expr) -> str:
    return LatexPrinter({"ln_notation": True}).doprint(expr)


def derivative(name: str) -> sympy.Expr:
    """d origin / dx away from kinks (the model's convention: sign(u)**2 at its limit 1, which the
    page shows); a gradient-only family's declared gradient."""
    m = checked(name).model
    if m.origin is None:
        return m.grad
    d = sympy.diff(m.origin, m.x).replace(sympy.DiracDelta, lambda *a: sympy.S.Zero)
    return at_kinks_as_limits(d)


def raw_spec(name: str) -> dict:
    return yaml.safe_load((ROOT / "specs" / f"{name}.yaml").read_text())


def test_formulas_in_their_places(name):
    page = (DOCS / f"{name}.md").read_text()
    grad = latex(derivative(name))
    if has_origin(name):
        origin = latex(checked(name).model.origin)
        assert origin != grad
        assert f"$$\n\\mathrm{{origin}}(x) = {origin}\n$$\n" in page
        derivative_line = (
            f"\\mathrm{{grad}}(x) = \\frac{{d}}{{dx}}\\,\\mathrm{{origin}}(x) = {grad}"
        )
    else:  # a gradient-only family: its declared gradient
        assert "\\mathrm{origin}" not in page
        derivative_line = f"\\mathrm{{grad}}(x) = {grad}"
    assert f"$$\n{derivative_line}\n$$\n" in page
    c = checked(name)
    emitted = f"$$\n\\mathrm{{grad}}(x) = {latex(c.emitted_grad)}\n$$"
    if emitted.strip("$\n") != derivative_line:  # the declared gradient shows itself as such
        assert (emitted in page) == (c.emitted_form not in ("raw derivative", "declared grad"))


def test_parameter_table_defaults(name):
    page = (DOCS / f"{name}.md").read_text()
    for pname, p in (raw_spec(name).get("params") or {}).items():
        integer = p.get("domain") == "integer"  # an integer default stays an int
        default = p["default"] if integer else float(p["default"])
        assert re.search(rf"^\| `{pname}` \| {default!r} \| ", page, re.M), pname


def _entries(page: str) -> list[tuple[str, str, str]]:
    """(source, label, evidence) of each published formula, in order."""
    section = page.split("## Published backward formulas")[1].split("\n## ")[0]
    pattern = r"^- \*\*(.+?)\*\*\. (Matches|\*\*Checked discrepancy\*\*): (.+)$"
    return [(_unescape(s), lab, _unescape(ev)) for s, lab, ev in re.findall(pattern, section, re.M)]


def _unescape(text: str) -> str:
    """The text without the Markdown escapes the docs backend adds."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>])", r"\1", text)


def test_published_formulas_are_labelled_as_the_spec_says(name):
    page = (DOCS / f"{name}.md").read_text()
    entries = _entries(page)
    backward = raw_spec(name)["backward"]
    assert len(entries) == len(backward)
    m = checked(name).model
    grad = lambdify_mpmath((m.x, *m.params), derivative(name))
    integer = [p.domain == "integer" for p in SPECS[name].params]
    for i, ((source, label, evidence), spec) in enumerate(zip(entries, backward, strict=True)):
        assert source == spec["source"]
        if spec.get("expect", "match") == "match":
            assert label == "Matches" and evidence.startswith("equal ")
            continue
        assert label == "**Checked discrepancy**"
        assert spec["note"].split()[0] in evidence
        against = r"(?:d\(origin\)/dx|grad)"  # a gradient-only family's is its grad
        found = re.match(rf"differs at (.+?): quoted (\S+), {against} (\S+?)\.( |$)", evidence)
        assert found, evidence
        point = dict(kv.split(" = ") for kv in found.group(1).split(", "))
        quoted = lambdify_mpmath((m.x, *m.params), m.backward[i])
        with mpmath.workdps(30):
            args = [mpmath.mpf(point["x"])] + [
                int(float(point[str(s)])) if is_int else mpmath.mpf(point[str(s)])
                for s, is_int in zip(m.params, integer, strict=True)
            ]
            for shown, value in ((found.group(2), quoted(*args)), (found.group(3), grad(*args))):
                assert float(shown) == pytest.approx(float(value), rel=1e-7, abs=1e-300), shown
            assert abs(quoted(*args) - grad(*args)) > mpmath.mpf("1e-6") * abs(grad(*args))


def _formula(doc: str, label: str) -> str:
    """The text after ``label`` up to the blank line, with whitespace collapsed."""
    text = doc.split(label, 1)[1].split("\n\n")[0]
    return " ".join(text.split())


@pytest.mark.parametrize("backend", ["jax", "numba_cpu"])
def test_docstrings_show_the_right_formula(name, backend):
    m = importlib.import_module(f"surrogen.{backend}.{name}")
    grad = " ".join(sympy.sstr(derivative(name)).split())
    if not has_origin(name):  # a gradient-only family: its declared gradient, no origin
        assert not hasattr(m, "origin")
        assert _formula(m.grad.__doc__, "grad(x) = ") == grad
        assert _formula(m.__doc__, "grad(x) = ") == grad
        return
    origin = " ".join(sympy.sstr(checked(name).model.origin).split())
    assert origin != grad
    assert _formula(m.origin.__doc__, "origin(x) = ") == origin
    assert _formula(m.grad.__doc__, "grad(x) = ") == grad
    assert _formula(m.__doc__, "origin(x) = ").startswith(origin)
    assert _formula(m.__doc__, "grad(x)   = ") == grad

"""Every documented error path of the loader, the parser, the checks and the CLI, with its exit
code: each case fails if its path is removed (the spec would then load, check or generate).

A case is a spec folder (YAML texts written here) run through ``main``; the expected message is
the whole first stderr line after ``specs/<file>: ``, and a failing run writes nothing.
Paths already pinned by tests/bad_specs/ (test_bad_specs.py) are not repeated.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from surrogen.generator import __main__ as cli
from surrogen.generator import checks
from surrogen.generator.__main__ import main

pytestmark = pytest.mark.xdist_group("generator")

EXIT_STALE, EXIT_BAD_SPEC, EXIT_CONFLICT = 1, 2, 3
SIGMOID = textwrap.dedent(
    """\
    name: NAME
    title: Sigmoid
    summary: A sigmoid.
    params:
      alpha: {default: 4.0, domain: positive, doc: "Steepness."}
    origin: 1/(1 + exp(-alpha*x))
    backward:
      - source: S
        expr: alpha*exp(-alpha*x)/(1 + exp(-alpha*x))**2
    """
)
NUM = r"-?\d[\d.]*(e[+-]?\d+)?"


def sig(**replace: str) -> str:
    text = SIGMOID
    for old, new in replace.items():
        old = old.replace("__", " ")
        assert old in text, old
        text = text.replace(old, new)
    return text


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


BACKWARD = "expr: alpha*exp(-alpha*x)/(1 + exp(-alpha*x))**2"
PARAM = '  alpha: {default: 4.0, domain: positive, doc: "Steepness."}'
FUNCTIONS = (
    "Abs, Max, Min, Mod, Piecewise, Sum, atan, cos, cosh, erf, erfc, exp, floor, log, sign, sin,"
    " sqrt, tanh"
)

# id -> (spec text with NAME, expected message: str (exact) or compiled pattern (full match))
LOADER: dict[str, tuple[str, str | re.Pattern[str]]] = {
    "top_level_list": ("- a\n- b\n", "(top level): must be a mapping, got list (['a', 'b'])"),
    "not_utf8": ("\udcff", "(top level): not UTF-8 text"),
    "yaml_syntax": (
        "name: [unclosed\n",
        re.compile(r"\(top level\): not valid YAML \(line \d+\): .+"),
    ),
    "class_name_not_camel": (
        _edit(SIGMOID, "title:", "class_name: sig_moid\ntitle:"),
        "class_name: 'sig_moid' must be CamelCase: [A-Z][A-Za-z0-9]*",
    ),
    "params_not_mapping": (
        _edit(SIGMOID, PARAM, "  - alpha"),
        "params: must be a mapping of name -> {default, domain, doc}, got list (['alpha'])",
    ),
    "param_not_identifier": (
        _edit(SIGMOID, "  alpha: {", "  1a: {"),
        "params: parameter name '1a' is not an identifier (a letter, then letters, digits or _)",
    ),
    "param_soft_keyword": (
        _edit(SIGMOID, "  alpha: {", "  match: {"),
        "params.match: parameter name 'match' is a Python keyword",
    ),
    "param_reserved": (
        _edit(SIGMOID, "  alpha: {", "  grad_f32: {"),
        "params.grad_f32: parameter name 'grad_f32' is used by the generated numba_cuda code",
    ),
    "param_not_mapping": (
        _edit(SIGMOID, PARAM, "  alpha: 4.0"),
        "params.alpha: must be a mapping, got float (4.0)",
    ),
    "default_missing": (
        _edit(SIGMOID, "default: 4.0, ", ""),
        "params.alpha.default: missing required key",
    ),
    "param_unknown_key": (
        _edit(SIGMOID, "domain: positive,", "domain: positive, unit: mV,"),
        "params.alpha: unknown key(s) ['unit']; allowed keys are"
        " ['default', 'domain', 'doc', 'min', 'max', 'above', 'below']",
    ),
    "param_doc_missing": (
        _edit(SIGMOID, ', doc: "Steepness."', ""),
        "params.alpha.doc: missing required key",
    ),
    "integer_not_integer": (
        _edit(SIGMOID, "domain: positive", "domain: integer"),
        "params.alpha.default: 4.0 is not an integer (domain: integer)",
    ),
    "positive_zero": (
        _edit(SIGMOID, "default: 4.0", "default: 0.0"),
        "params.alpha.default: 0.0 lies outside its domain 'positive'",
    ),
    "nonnegative_negative": (
        _edit(SIGMOID, "default: 4.0, domain: positive", "default: -1.0, domain: nonnegative"),
        "params.alpha.default: -1.0 lies outside its domain 'nonnegative'",
    ),
    "real_nan": (
        _edit(SIGMOID, "default: 4.0, domain: positive", "default: .nan, domain: real"),
        "params.alpha.default: nan is not a finite number",
    ),
    "real_inf": (
        _edit(SIGMOID, "default: 4.0, domain: positive", "default: .inf, domain: real"),
        "params.alpha.default: inf is not a finite number",
    ),
    "backward_missing": (
        SIGMOID.split("backward:")[0],
        "backward: missing required key",
    ),
    "backward_empty": (
        SIGMOID.split("backward:")[0] + "backward: []\n",
        "backward: must be a non-empty list of {source, expr}, got list ([])",
    ),
    "backward_entry_text": (
        SIGMOID.split("backward:")[0] + "backward:\n  - just text\n",
        "backward[0]: must be a mapping, got a string ('just text')",
    ),
    "backward_source_missing": (
        _edit(SIGMOID, "  - source: S\n    expr", "  - expr"),
        "backward[0].source: missing required key",
    ),
    "backward_unknown_key": (
        SIGMOID + "    url: https://example.org\n",
        "backward[0]: unknown key(s) ['url']; allowed keys are"
        " ['source', 'expr', 'expect', 'note']",
    ),
    "expect_unknown": (
        SIGMOID + "    expect: maybe\n",
        "backward[0].expect: 'maybe' is not one of ['match', 'mismatch']",
    ),
    "mismatch_without_note": (
        SIGMOID + "    expect: mismatch\n",
        "backward[0].note: required when expect is 'mismatch': say what is wrong and the"
        " consistent form",
    ),
    "property_unknown": (
        SIGMOID + "properties: [convex]\n",
        "properties: unknown property 'convex'; known: ['normalized', 'monotone', 'even_grad']",
    ),
    "property_twice": (
        SIGMOID + "properties: [monotone, monotone]\n",
        "properties: lists a property twice",
    ),
    "properties_not_list": (
        SIGMOID + "properties: monotone\n",
        "properties: must be a list of non-empty strings, got a string ('monotone')",
    ),
    "references_not_list": (
        SIGMOID + "references: a paper\n",
        "references: must be a list of non-empty strings, got a string ('a paper')",
    ),
    "notes_not_text": (
        SIGMOID + "notes: [a, b]\n",
        "notes: must be a non-empty string, got list (['a', 'b'])",
    ),
    # the parser
    "expression_too_long": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: " + "+".join(["x"] * 2001)),
        "origin: expression is too long (4001 > 4000 characters)",
    ),
    "condition_not_expression": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: x < alpha"),
        "origin: must be a real-valued expression, got a condition",
    ),
    "undefined_expression": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: x/(alpha - alpha)"),
        "origin: expression is undefined (division by zero or infinity)",
    ),
    "exponent_too_large": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: x**100"),
        "origin: exponent 100 is too large (|exponent| <= 64)",
    ),
    "keyword_argument": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: exp(x=alpha)"),
        "origin: keyword arguments in exp(...) are not allowed",
    ),
    "function_not_called": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: exp + x"),
        "origin: function 'exp' must be called",
    ),
    "function_not_whitelisted": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: gamma(x)"),
        f"origin: function 'gamma' is not allowed (functions: {FUNCTIONS})",
    ),
    "wrong_arity": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: exp(x, alpha)"),
        re.compile(r"origin: exp\(\.\.\.\) with 2 argument\(s\): .+"),
    ),
    "piecewise_not_pairs": (
        _edit(SIGMOID, "origin: 1/(1 + exp(-alpha*x))", "origin: Piecewise(x, True)"),
        "origin: Piecewise takes (expression, condition) pairs",
    ),
    "grad_impl_unparsable": (
        SIGMOID + "grad_impl: alpha*(\n",
        re.compile(r"grad_impl: cannot parse 'alpha\*\(': .+"),
    ),
    "origin_impl_undeclared": (
        SIGMOID + "origin_impl: beta*x\n",
        "origin_impl: undeclared symbol 'beta' (declared: ['alpha', 'x']; constants: pi, E)",
    ),
}

MONOTONE_ORIGIN = "1/(1 + exp(-alpha*x)) - 2*x*exp(-x**2)"
MONOTONE_GRAD = "alpha*exp(-alpha*x)/(1 + exp(-alpha*x))**2 - 2*exp(-x**2) + 4*x**2*exp(-x**2)"
SHIFTED = "1/(1 + exp(-alpha*(x - 1)))"
SHIFTED_GRAD = "alpha*exp(-alpha*(x - 1))/(1 + exp(-alpha*(x - 1)))**2"
AT = rf"x = {NUM}, alpha = {NUM}"

CHECKS: dict[str, tuple[str, str | re.Pattern[str]]] = {
    "origin_not_finite": (
        sig(**{"1/(1 + exp(-alpha*x))": "log(Abs(x))", BACKWARD: "expr: 1/x"}),
        re.compile(rf"origin: not finite at {AT}"),
    ),
    "grad_not_finite": (
        sig(
            **{"1/(1 + exp(-alpha*x))": "sqrt(Abs(x))", BACKWARD: "expr: sign(x)/(2*sqrt(Abs(x)))"}
        ),
        re.compile(rf"origin: d\(origin\)/dx is not finite at {AT}"),
    ),
    "monotone_false": (
        sig(**{"1/(1 + exp(-alpha*x))": MONOTONE_ORIGIN, BACKWARD: f"expr: {MONOTONE_GRAD}"})
        + "properties: [monotone]\n",
        re.compile(rf"properties: monotone does not hold: d\(origin\)/dx = {NUM} < 0 at {AT}"),
    ),
    "even_grad_false": (
        sig(**{"1/(1 + exp(-alpha*x))": SHIFTED, BACKWARD: f"expr: {SHIFTED_GRAD}"})
        + "properties: [even_grad]\n",
        re.compile(
            rf"properties: even_grad does not hold: d\(origin\)/dx = {NUM} at {AT}"
            rf" but {NUM} at -x"
        ),
    ),
    "origin_impl_differs": (
        SIGMOID + "origin_impl: 1/(1 + exp(-alpha*x)) + 1/1000\n",
        re.compile(rf"origin_impl: differs from origin at {AT}: origin_impl {NUM}, origin {NUM}"),
    ),
    "grad_impl_not_finite": (
        SIGMOID + "grad_impl: alpha*exp(-alpha*x)/(1 + exp(-alpha*x))**2\n",
        re.compile(
            r"grad_impl: the emitted grad \(grad_impl\) gives nan in float32 at x = \S+ where"
            r" the true value is \S+; make it finite there, or remove 'grad_impl' and let the"
            r" generator look for a stable form"
        ),
    ),
    "origin_impl_not_finite": (
        textwrap.dedent(
            """\
            name: NAME
            title: T
            summary: S
            params:
              beta: {default: 20.0, domain: positive, doc: "Steepness."}
            origin: x/(1 + beta*Abs(x)) + 1/beta
            origin_impl: (x + beta*Abs(x)*x)/(1 + beta*Abs(x))**2 + 1/beta
            backward:
              - source: S
                expr: 1/(1 + beta*Abs(x))**2
            """
        ),
        re.compile(
            r"origin_impl: the emitted origin \(origin_impl\) gives nan in float32 at x = \S+ where"
            r" the true value is \S+; make it finite there, or remove 'origin_impl' and let the"
            r" generator look for a stable form"
        ),
    ),
    # The identity checker's tolerance (EQUAL_RTOL = 1e-25): a published formula wrong by a small
    # relative amount is rejected, however small above it.
    "backward_off_by_5e-4": (
        sig(**{BACKWARD: BACKWARD + "*(1 + 5/10**4)"}),
        re.compile(rf"backward\[0\]: S: differs at {AT}: quoted {NUM}, d\(origin\)/dx {NUM}"),
    ),
    "backward_off_by_1e-20": (
        sig(**{BACKWARD: BACKWARD + "*(1 + 1/10**20)"}),
        re.compile(rf"backward\[0\]: S: differs at {AT}: quoted {NUM}, d\(origin\)/dx {NUM}"),
    ),
}


def _run(tmp_path: Path, monkeypatch, files: dict[str, str | bytes], *extra: str) -> int:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    for stem, text in files.items():
        data = text if isinstance(text, bytes) else text.replace("NAME", stem)
        if isinstance(data, str) and "\udcff" in data:
            data = b"name: x\ntitle: \xff\n"
        (specs / f"{stem}.yaml").write_bytes(data if isinstance(data, bytes) else data.encode())
    monkeypatch.chdir(tmp_path)
    return main(["--specs", str(specs), "--out", str(tmp_path / "out"), *extra])


def _assert_message(err: str, prefix: str, expected: str | re.Pattern[str]) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    message = lines[0][len(prefix) :]
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(message), message
    else:
        assert message == expected


@pytest.mark.parametrize("case", sorted(LOADER) + sorted(CHECKS))
def test_error_path(case, tmp_path, monkeypatch, capsys):
    text, expected = {**LOADER, **CHECKS}[case]
    stem = "bad_case"
    rc = _run(tmp_path, monkeypatch, {stem: text})
    captured = capsys.readouterr()
    assert rc == EXIT_BAD_SPEC, captured.err
    assert captured.out == ""
    _assert_message(captured.err, f"specs/{stem}.yaml: ", expected)
    assert not (tmp_path / "out").exists()


def test_the_base_spec_is_valid(tmp_path, monkeypatch, capsys):
    """Every case above breaks one rule of a spec that generates."""
    assert _run(tmp_path, monkeypatch, {"good": SIGMOID}) == 0, capsys.readouterr().err


def test_explicit_class_names_that_collide(tmp_path, monkeypatch, capsys):
    text = _edit(SIGMOID, "title:", "class_name: Same\ntitle:")
    rc = _run(tmp_path, monkeypatch, {"first": text, "second": text})
    err = capsys.readouterr().err
    assert rc == EXIT_BAD_SPEC
    assert err == (
        "specs/second.yaml: class_name: class name 'Same' collides with the class of"
        " specs/first.yaml\n"
    )


def test_empty_spec_folder(tmp_path, monkeypatch, capsys):
    rc = _run(tmp_path, monkeypatch, {})
    assert rc == EXIT_BAD_SPEC
    assert capsys.readouterr().err == f"{tmp_path / 'specs'}: (folder): no *.yaml spec files\n"


@pytest.mark.parametrize(
    "error, message",
    [
        (TypeError("boom"), "origin: SymPy could not analyse it (TypeError: boom)"),
        (RecursionError(), "origin: expression too large to analyse"),
    ],
)
def test_sympy_failure_is_a_spec_error(error, message, tmp_path, monkeypatch, capsys):
    def fail(spec):
        raise error

    # The CLI checks each spec through checks.check_spec, which calls build_model.
    monkeypatch.setattr(checks, "build_model", fail)
    rc = _run(tmp_path, monkeypatch, {"good": SIGMOID})
    assert rc == EXIT_BAD_SPEC
    assert capsys.readouterr().err == f"specs/good.yaml: {message}\n"


def test_check_exit_codes(tmp_path, monkeypatch, capsys):
    """--check: 0 on a fresh tree, 1 (and the count) on a stale one, and it writes nothing."""
    assert _run(tmp_path, monkeypatch, {"good": SIGMOID}) == 0
    assert _run(tmp_path, monkeypatch, {"good": SIGMOID}, "--check") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("out/ is up to date (")
    target = tmp_path / "out" / "numba_cpu" / "good.py"
    target.write_text(target.read_text().replace("DEFAULTS = {", "DEFAULTS = {'beta': 1, "))
    before = target.read_text()
    assert _run(tmp_path, monkeypatch, {"good": SIGMOID}, "--check") == EXIT_STALE
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "1 file(s) in out/ are stale: run `make gen`"
    assert target.read_text() == before


def test_edited_file_of_a_removed_spec_is_a_conflict(tmp_path, monkeypatch, capsys):
    assert _run(tmp_path, monkeypatch, {"good": SIGMOID, "other": SIGMOID}) == 0
    target = tmp_path / "out" / "jax" / "other.py"
    target.write_text(target.read_text() + "\nMINE = 1\n")
    (tmp_path / "specs" / "other.yaml").unlink()
    capsys.readouterr()
    assert _run(tmp_path, monkeypatch, {"good": SIGMOID}) == EXIT_CONFLICT
    err = capsys.readouterr().err
    assert (
        "out/jax/other.py: no spec produces it any more, but it was edited by hand since surrogen"
        " wrote it; delete it yourself, or run with --force" in err
    )
    assert err.splitlines()[-1] == "nothing written to out/"
    assert target.exists()
    assert _run(tmp_path, monkeypatch, {"good": SIGMOID}, "--force") == 0
    assert not target.exists()


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--bogus"])
    assert exit_.value.code == EXIT_BAD_SPEC
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_specs_and_out_are_required_outside_the_repository(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "REPO_SPECS", tmp_path / "nowhere")
    with pytest.raises(SystemExit) as exit_:
        main(["--check"])
    assert exit_.value.code == EXIT_BAD_SPEC
    assert "--specs is required (e.g. surrogen --specs myspecs --out mypkg)" in (
        capsys.readouterr().err
    )

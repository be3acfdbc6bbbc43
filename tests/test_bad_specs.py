"""Malformed and hostile specs: each is rejected with its exact message, exit status 2, no
traceback, nothing executed, and the output tree left byte-identical.

Every file in tests/bad_specs/ breaks exactly one rule. It is copied alone into a temporary folder
named ``specs`` (so messages read ``specs/<file>.yaml: ...`` as they do for the real folder) and
generated into a copy of the committed ``generated/`` tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from surrogen.generator.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
BAD = Path(__file__).resolve().parent / "bad_specs"
FUNCTIONS = (
    "Abs, Max, Min, Mod, Piecewise, Sum, atan, cos, cosh, erf, erfc, exp, floor, log, sign, sin,"
    " sqrt, tanh"
)
ONLY = (
    "is not allowed (only numbers, x, the parameters, pi, E, + - * / **, comparisons, & | and"
    f" the functions {FUNCTIONS})"
)
TOP_KEYS = (
    "['name', 'class_name', 'title', 'summary', 'aliases', 'params', 'origin', 'grad',"
    " 'backward', 'grad_impl', 'origin_impl', 'properties', 'references', 'notes', 'presets']"
)
NUM = r"-?\d[\d.]*(e[+-]?\d+)?"  # a number as mpmath.nstr prints it

# file stem -> the whole first line of stderr after "specs/<stem>.yaml: " (a str is compared
# exactly; a compiled pattern must match the whole line, for messages that quote long numbers).
EXPECTED: dict[str, str | re.Pattern[str]] = {
    "missing_origin": (
        "origin: missing required key (or grad: for a family with no closed-form origin)"
    ),
    "alias_without_name": "aliases[0].name: missing required key",
    # The misspelt key itself is not named: "origin" is reported missing before unknown keys.
    "misspelt_origin": (
        f"(top level): unknown key(s) 'orgin' (did you mean 'origin'?); allowed keys are {TOP_KEYS}"
    ),
    "misspelt_optional_key": (
        "(top level): unknown key(s) 'propertes' (did you mean 'properties'?);"
        f" allowed keys are {TOP_KEYS}"
    ),
    "unknown_key": f"(top level): unknown key(s) 'author'; allowed keys are {TOP_KEYS}",
    "default_1e3_string": (
        "params.alpha.default: must be a number, got a string ('1e-3')"
        " (write floats as 1.0e-3: YAML 1.1 reads 1e-3 as a string)"
    ),
    "default_no_boolean": (
        "params.alpha.default: must be a number, got a boolean"
        " (False; YAML 1.1 reads yes/no/on/off as booleans)"
    ),
    "title_list": "title: must be a non-empty string, got list (['Sigmoid', 'surrogate'])",
    "CamelCase": "name: 'CamelCase' must be snake_case: [a-z][a-z0-9]*(_[a-z0-9]+)*",
    "lambda": "name: 'lambda' is a Python keyword",
    "name_not_stem": "name: 'sigmoid' must equal the file stem 'name_not_stem'",
    "undeclared_symbol": (
        "origin: undeclared symbol 'beta' (declared: ['alpha', 'x']; constants: pi, E)"
    ),
    "param_named_x": "params.x: parameter name 'x' is the input variable",
    "param_keyword": "params.lambda: parameter name 'lambda' is a Python keyword",
    "default_outside_domain": "params.alpha.default: -1.0 lies outside its domain 'positive'",
    "unknown_domain": (
        "params.alpha.domain: 'positve' is not one of"
        " ['positive', 'nonnegative', 'real', 'integer']"
    ),
    "unparsable": "origin: cannot parse '1 / (1 + exp(-alpha * x)': '(' was never closed",
    "code_injection": "origin: attribute access ('.system') is not allowed",
    "yaml_python_tag": (
        "(top level): not valid YAML (line 6): could not determine a constructor for the tag"
        " 'tag:yaml.org,2002:python/object/apply:os.system'"
    ),
    "attribute_access": f"origin: attribute access ('.__class__') {ONLY}",
    "string_literal": "backward[0].expr: literal 'alpha' is not allowed (only numbers)",
    "caret_power": "origin: '^' is not allowed: write powers as **",
    # Names the source and a point (x and every parameter) with both values.
    "wrong_backward": re.compile(
        rf"backward\[0\]: a blog post that forgot alpha: differs at x = {NUM}, alpha = {NUM}:"
        rf" quoted {NUM}, d\(origin\)/dx {NUM}"
    ),
    "false_normalized": (
        "properties: normalized does not hold: origin(-inf) = 0.0, origin(+inf) = 2.0"
        " (evaluated at x = -+1e30), expected 0 and 1"
    ),
    "mismatch_that_matches": (
        "backward[0]: marked 'expect: mismatch' but equals d(origin)/dx (symbolically);"
        " remove 'expect'"
    ),
    "duplicate_param": "alpha: duplicate key (line 6)",
    "duplicate_origin": "origin: duplicate key (line 10)",
    "piecewise_no_true": (
        "origin: Piecewise needs a last (expression, True) pair so it is defined everywhere"
    ),
    "discontinuous_origin": (
        "origin: not continuous at x = 0.0, alpha = 2.0: 0.25 on the left, 0.75 on the right"
    ),
    "sum_without_max": (
        "origin: the Sum bound n needs params.n.max (the largest n the generated code unrolls)"
    ),
    "sum_real_bound": (
        "origin: Sum upper bound alpha must be an integer number or an integer parameter"
        " (domain: integer) plus or minus an integer"
    ),
    "integer_default_float": "params.n.default: 2.5 is not an integer (domain: integer)",
    "default_outside_bound": "params.alpha.default: 1.0 lies outside the bound above: 1.0",
    "origin_and_grad": "grad: give either origin (the family's smooth step) or grad, not both",
    "gradient_only_normalized": (
        "properties: normalized needs an origin; a gradient-only family has none"
    ),
}
EXIT_BAD_SPEC = 2


def _snapshot(tree: Path) -> dict[str, bytes]:
    """Every file under ``tree`` (hidden temporaries included) -> its bytes."""
    return {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()}


def _copy_generated(dest: Path) -> dict[str, bytes]:
    # The committed tree; caches written by Numba or Python next to it are not part of it.
    shutil.copytree(ROOT / "generated", dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = _snapshot(dest)
    assert len(before) > 40, "expected the committed generated/ tree"
    return before


def _run_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *spec_files: Path) -> int:
    specs = tmp_path / "specs"
    specs.mkdir()
    for file in spec_files:
        shutil.copy(file, specs / file.name)
    monkeypatch.chdir(tmp_path)
    return main(["--specs", str(specs), "--out", str(tmp_path / "out")])


def _check_message(stem: str, stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    prefix = f"specs/{stem}.yaml: "
    assert lines[0].startswith(prefix), lines[0]
    expected, message = EXPECTED[stem], lines[0][len(prefix) :]
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(message), message
    else:
        assert message == expected


def test_table_covers_every_bad_spec() -> None:
    files = {p.stem for p in BAD.glob("*.yaml")}
    assert files == set(EXPECTED)
    assert len(files) >= 18


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_bad_spec_is_rejected(
    stem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _copy_generated(tmp_path / "out")
    rc = _run_main(tmp_path, monkeypatch, BAD / f"{stem}.yaml")
    captured = capsys.readouterr()
    assert rc == EXIT_BAD_SPEC, captured.err
    assert captured.out == ""
    _check_message(stem, captured.err)
    assert _snapshot(tmp_path / "out") == before
    # Nothing ran: the injected `echo owned > owned.txt` would have written into the cwd.
    assert not (tmp_path / "owned.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "specs"]


def test_late_failure_leaves_output_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Good specs pass their checks first; the bad one sorts last, so the failure comes late.
    (Three quick specs: the whole tree's checks would cost a minute and prove nothing more.)"""
    names = ("leaky_relu", "sign_flip_triangular", "straight_through")
    good = [ROOT / "specs" / f"{name}.yaml" for name in names]
    bad = BAD / "wrong_backward.yaml"
    assert good and all(p.name < bad.name for p in good)
    _copy_generated(tmp_path / "out")
    # A stale file and a missing one: a non-atomic writer would fix them before failing.
    (tmp_path / "out" / "docs" / "index.md").write_bytes(b"stale\n")
    (tmp_path / "out" / "jax" / "sigmoid.py").unlink()
    before = _snapshot(tmp_path / "out")
    rc = _run_main(tmp_path, monkeypatch, *good, bad)
    captured = capsys.readouterr()
    assert rc == EXIT_BAD_SPEC
    _check_message("wrong_backward", captured.err)
    assert _snapshot(tmp_path / "out") == before


def test_class_name_collision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two valid file names that map to one class name (X2): the loader's duplicate-name rule."""
    text = (BAD / "wrong_backward.yaml").read_text(encoding="utf-8")
    sources = tmp_path / "sources"
    sources.mkdir()
    for stem in ("x2", "x_2"):
        (sources / f"{stem}.yaml").write_text(
            text.replace("name: wrong_backward", f"name: {stem}"), encoding="utf-8"
        )
    before = _copy_generated(tmp_path / "out")
    rc = _run_main(tmp_path, monkeypatch, *sorted(sources.glob("*.yaml")))
    captured = capsys.readouterr()
    assert rc == EXIT_BAD_SPEC
    assert captured.err == (
        "specs/x_2.yaml: name: class name 'X2' collides with the class of specs/x2.yaml\n"
    )
    assert _snapshot(tmp_path / "out") == before


# Hostile YAML that once escaped main() as a traceback: each is now a spec error naming the field.
_HUGE_DEFAULT = (
    (BAD / "default_outside_domain.yaml")
    .read_text(encoding="utf-8")
    .replace("name: default_outside_domain", "name: huge_default")
    .replace("default: -1.0", "default: 1" + "0" * 400)
)
HOSTILE_YAML = [
    pytest.param(
        "unhashable_key",
        "name: unhashable_key\n? [a, b]\n: 1\n",
        "(top level): mapping keys must be plain names (line 2)",
        id="unhashable_key",
    ),
    pytest.param(
        "deep_nesting",
        "name: deep_nesting\ntitle: " + "[" * 5000 + "]" * 5000 + "\n",
        "(top level): YAML nested too deeply",
        id="deep_nesting",
    ),
    pytest.param(
        "huge_default",
        _HUGE_DEFAULT,
        "params.alpha.default: " + "1" + "0" * 400 + " is too large (|default| <= 2**53)",
        id="huge_default",
    ),
]


@pytest.mark.parametrize(("stem", "text", "message"), HOSTILE_YAML)
def test_hostile_yaml_is_a_spec_error(
    stem: str,
    text: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / f"{stem}.yaml"
    source.write_text(text, encoding="utf-8")
    (tmp_path / "out").mkdir()
    rc = _run_main(tmp_path, monkeypatch, source)
    assert rc == EXIT_BAD_SPEC
    assert capsys.readouterr().err == f"specs/{stem}.yaml: {message}\n"


def test_error_in_backward_is_reported_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "negated_condition.yaml"
    text = (BAD / "string_literal.yaml").read_text(encoding="utf-8")
    source.write_text(
        text.replace("name: string_literal", "name: negated_condition").replace(
            "expr: alpha * exp(-alpha*x) / (1 + exp(-alpha*x))**2 + 'alpha'", "expr: -~x"
        ),
        encoding="utf-8",
    )
    (tmp_path / "out").mkdir()
    assert _run_main(tmp_path, monkeypatch, source) == EXIT_BAD_SPEC
    err = capsys.readouterr().err
    assert err.startswith("specs/negated_condition.yaml: backward[0].expr: "), err


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surrogen.generator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_bad_spec_exits_2_without_traceback(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(BAD / "code_injection.yaml", specs)
    before = _copy_generated(tmp_path / "out")
    owned_before = (ROOT / "owned.txt").exists()
    result = _cli("--specs", str(specs), "--out", str(tmp_path / "out"))
    assert result.returncode == EXIT_BAD_SPEC, result.stderr
    assert "Traceback" not in result.stderr
    _check_message("code_injection", result.stderr)
    assert result.stdout == ""
    assert _snapshot(tmp_path / "out") == before
    assert (ROOT / "owned.txt").exists() == owned_before

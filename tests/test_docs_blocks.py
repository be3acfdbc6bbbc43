"""What users read runs: every ```python block of the READMEs, of the site's hand-written pages
(docs/) and of the generated pages (generated/docs/); the spec example of specs/README.md loads and
passes the checks; the error messages the guide quotes are the ones the generator prints. Shell
commands are ```bash."""

import re
import shutil
from pathlib import Path

import pytest

from surrogen.generator.backends import reserved_names
from surrogen.generator.checks import check_spec
from surrogen.generator.spec import load_spec
from tests.reference import ROOT

pytestmark = pytest.mark.xdist_group("docs")

PAGES = [
    ROOT / "README.md",
    ROOT / "specs" / "README.md",
    ROOT / "examples" / "README.md",
    *sorted((ROOT / "generated" / "docs").glob("*.md")),
    *sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts),
]


def _blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", page.read_text(), flags=re.M | re.S)


PYTHON = [(p, i, code) for p in PAGES for i, code in enumerate(_blocks(p, "python"))]


def test_every_fenced_block_names_its_language():
    for page in PAGES:
        # A fence opens with its language or MyST directive (```{include} path), and closes bare.
        fences = re.findall(r"^```(\S*)[^\n`]*$", page.read_text(), flags=re.M)
        openings = fences[::2]
        assert all(openings), f"{page.relative_to(ROOT)}: a code block without a language"


def test_the_readmes_have_python_blocks():
    pages = {p.name if p.parent == ROOT else p.parent.name for p, _, _ in PYTHON}
    assert {"README.md", "examples", "docs"} <= pages


@pytest.mark.parametrize(
    "page, index, code",
    PYTHON,
    ids=[f"{p.relative_to(ROOT)}:{i}" for p, i, _ in PYTHON],
)
def test_python_block_runs(page, index, code, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    if page.parent.name == "examples":
        monkeypatch.syspath_prepend(str(ROOT / "examples"))  # the examples run as scripts there
    exec(compile(code, f"{page}:python block {index}", "exec"), {"__name__": "__main__"})


def test_spec_example_in_specs_readme_is_a_valid_spec(tmp_path):
    (block,) = _blocks(ROOT / "specs" / "README.md", "yaml")
    name = re.search(r"^name: (\w+)$", block, flags=re.M).group(1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(block)
    spec = load_spec(path, reserved=reserved_names())
    checked = check_spec(spec)
    assert checked.backward and all(v.matches for v in checked.backward)


def test_error_messages_quoted_by_the_guide_are_real(tmp_path, capsys):
    """Each ``specs/<name>.yaml: ...`` line of the guide is what that bad spec prints."""
    from surrogen.generator.__main__ import main

    (block,) = _blocks(ROOT / "docs" / "guides" / "adding.md", "text")
    lines = block.strip().splitlines()
    assert len(lines) >= 5
    for line in lines:
        name = re.match(r"specs/(\w+)\.yaml: ", line).group(1)
        specs = tmp_path / name / "specs"
        specs.mkdir(parents=True)
        shutil.copy(ROOT / "tests" / "bad_specs" / f"{name}.yaml", specs)
        assert main(["--specs", str(specs), "--out", str(tmp_path / name / "out")]) == 2
        assert capsys.readouterr().err.strip() == line


def test_readme_cli_and_generated_package_names_exist():
    """The README names commands and modules: they must exist."""
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"`make ([a-z-]+)`", text):
        assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), flags=re.M), target
    assert shutil.which("surrogen") or (ROOT / ".venv" / "bin" / "surrogen").exists()


def test_jax_docstring_examples_run(name):
    """The examples in the generated JAX docstrings are doctests."""
    import doctest
    import importlib

    pytest.importorskip("jax")
    module = importlib.import_module(f"surrogen.jax.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0

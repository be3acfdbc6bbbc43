"""Sphinx configuration of the surrogen documentation site (built by ``make docs``).

``docs/build.py`` assembles the source folder (these hand-written pages and the generated ones)
in ``docs/_build/src`` and runs Sphinx with this folder as its configuration directory.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "docs" / "_build"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
# The Numba CUDA modules are documented by importing them: without a GPU, on Numba's simulator.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

project = "surrogen"
author = "the surrogen authors"
copyright = "the surrogen authors"
release = metadata.version("surrogen")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_design",
    "surrogen_sphinx",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_repo"]  # READMEs and results that pages include, not pages themselves
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True

# Math: MathJax 3 from npm, vendored into the site by docs/build.py (no network when reading).
html_static_path = [str(BUILD / "vendor")]
mathjax_path = "mathjax/tex-chtml.js"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = f"surrogen {release}"
html_favicon = "_static/favicon.svg"  # relative to this folder
html_show_sourcelink = False
html_copy_source = False

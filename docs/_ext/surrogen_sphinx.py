"""Sphinx extension of the surrogen docs: ``surrogen-module``, the API of one generated module.

The generated pages name a module (``surrogen.jax.sigmoid``); this directive imports it and
documents every public name in its ``__all__`` with autodoc, whatever the backend: a class with
``autoclass``, a callable (a function, a ``jax.custom_jvp``, a NumPy ufunc, a CUDA dispatcher)
with ``autofunction``, anything else as data with its value. A backend added to the registry is
documented without a change here. ``:docstring-only:`` shows the module's docstring alone.

The generated docstrings are plain text written for ``help()``; ``_escape_bars`` keeps their
``|x|`` from reading as reStructuredText substitutions.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import Parser, directives
from docutils.utils import new_document
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

_LITERAL = re.compile(r"(``.*?``)")


def _escape_bars(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """The generated docstrings are plain text for ``help()``: ``|x|`` means an absolute value,
    not a reStructuredText substitution. Escape each ``|`` outside inline literals."""
    for i, line in enumerate(lines):
        parts = _LITERAL.split(line)
        lines[i] = "".join(p if p.startswith("``") else p.replace("|", "\\|") for p in parts)


def _rst(module_name: str, docstring_only: bool) -> list[str]:
    if docstring_only:
        return [f".. automodule:: {module_name}", "   :no-members:", "   :no-index:", ""]
    module = importlib.import_module(module_name)
    lines: list[str] = []
    for name in getattr(module, "__all__", ()):
        target = f"{module_name}.{name}"
        obj = getattr(module, name)
        if inspect.isclass(obj):
            lines += [f".. autoclass:: {target}", "   :members:", ""]
        elif callable(obj):
            lines += [f".. autofunction:: {target}", ""]
        else:
            lines += [f".. py:data:: {target}", f"   :value: {obj!r}", ""]
    return lines


class SurrogenModule(SphinxDirective):
    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"docstring-only": directives.flag}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            lines = _rst(name, "docstring-only" in self.options)
        except ImportError as err:
            raise self.error(f"surrogen-module: cannot import {name}: {err}") from None
        self.env.note_dependency(importlib.import_module(name).__file__ or "")
        # The autodoc directives are reStructuredText, whatever the page's own markup (MyST):
        # parse them as such into a document that shares this page's settings and reporter.
        document = self.state.document
        rst = new_document(document["source"], document.settings)
        rst.reporter = document.reporter
        Parser().parse("\n".join(lines), rst)
        container = nodes.container(classes=["surrogen-module"])
        container.extend(rst.children)
        return [container]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("surrogen-module", SurrogenModule)
    app.connect("autodoc-process-docstring", _escape_bars)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

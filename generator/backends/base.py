"""What a backend is: a plug-in that owns its printer, its templates and their output paths, the
view of a checked model that its templates need, and the identifiers its generated code reserves.

The generic stages call only ``outputs()`` and ``reserved_names()``; they never name a backend.
"""

from __future__ import annotations

import textwrap
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..checks import CheckedModel
from ..spec import Param, Spec

# templates/ beside generator/ in the repository, and surrogen/templates/ in an installed wheel.
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
ALL_SPECS = "specs/*.yaml"  # the source named in the header of an output made from every spec


@dataclass(frozen=True)
class Output:
    """One file a backend produces: rendered from ``template`` with ``context``, or raw ``data``."""

    path: str  # relative to the output package folder, posix separators
    source: str  # what it is generated from, named in the header: "specs/<name>.yaml"
    template: str | None = None  # relative to the backend's template root
    context: Mapping[str, Any] = field(default_factory=dict)
    data: bytes | None = None  # a binary output (a plot): no template, no header


@dataclass(frozen=True)
class ApiDoc:
    """How the docs present a backend's generated module of one surrogate."""

    title: str  # the backend as users name it: "JAX"
    module: str  # the importable module: "surrogen.jax.sigmoid"
    extra: str  # the pip extra that installs what it needs: pip install "surrogen[<extra>]"
    example: str = ""  # a short, runnable Python snippet (the docs tests execute it); "" if none
    note: str = ""  # one sentence a user needs before running it (Markdown)


class Backend(ABC):
    """A code or docs target. Subclasses set the class attributes and implement ``outputs``."""

    name: ClassVar[str]  # the output subpackage or folder, e.g. "jax"; its template folder
    package: ClassVar[str | None] = None  # the subpackage it writes, where not ``name``
    title: ClassVar[str] = ""  # how the docs name it ("JAX"); default: ``name``
    comment: ClassVar[str] = "# {}"  # how a header line is written in this backend's files
    template_root: ClassVar[Path] = TEMPLATES
    # Third-party top-level modules the generated code imports (none for text outputs).
    requires: ClassVar[tuple[str, ...]] = ()
    # Identifiers the generated code uses (modules, public functions, built-ins): a parameter
    # named like one would shadow it. Printers add their own (``printer_reserved``).
    reserved: ClassVar[frozenset[str]] = frozenset()

    def reserved_names(self) -> dict[str, str]:
        """Each reserved identifier with the reason a parameter cannot take it."""
        why = f"used by the generated {self.name} code"
        return {n: why for n in sorted(self.reserved | self.printer_reserved())}

    def printer_reserved(self) -> frozenset[str]:
        return frozenset()

    @abstractmethod
    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        """Every file of this backend for these models (all specs, sorted by name)."""

    def api_doc(self, checked: CheckedModel) -> ApiDoc | None:
        """The docs' API section for this backend's module of one surrogate, or None where the
        backend writes no importable module per spec.

        The default covers any code backend (one whose generated code imports ``requires``): its
        module is ``surrogen.<name>.<spec>``, installed by the extra ``<name>``, documented from
        its docstrings. Override it to add a runnable example, or where the extra differs.
        """
        if not self.requires:
            return None
        module = f"surrogen.{self.name}.{checked.model.spec.name}"
        return ApiDoc(title=self.title or self.name, module=module, extra=self.name)


# --- helpers for backend views (Python, so that templates hold no string logic) ----------------


def as_tuple(items: Sequence[str]) -> str:
    """``["x"]`` -> ``"(x,)"``, else ``"(x, alpha)"``: no trailing comma for ruff to explode."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def wrap(text: str, indent: str = "", width: int = 96, first: str | None = None) -> str:
    """Re-flow ``text`` to ``width`` columns; every line starts with ``indent`` (the first with
    ``first`` if given). Blank lines separate paragraphs."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    out = []
    for i, p in enumerate(paragraphs):
        lead = indent if (first is None or i) else first
        out.append(textwrap.fill(p, width=width, initial_indent=lead, subsequent_indent=indent))
    return "\n\n".join(out)


def package_index(
    title: str, example: str, models: Sequence[CheckedModel], with_classes: bool
) -> dict[str, Any]:
    """The context of ``_shared/__init__.py.jinja``: a backend subpackage's lazy index."""
    names = [c.model.spec.name for c in models]
    classes = {c.model.spec.class_name: c.model.spec.name for c in models} if with_classes else {}
    return {
        "title": title,
        "example": example,
        "names": names,
        "classes": classes,
        "all_names": ["NAMES", *sorted([*names, *classes])],
    }


def param_list(params: Sequence[Param], template: str = "{name}={default!r}") -> list[str]:
    return [template.format(name=p.name, default=p.default) for p in params]


def param_checks(spec: Spec, check: str, owner: str = "") -> tuple[str, ...]:
    """``check("sigmoid", "n", n, integer=True, max=16)`` per bounded parameter (Python source);
    ``owner`` prefixes the value (``"self."``)."""
    lines = []
    for p in spec.params:
        if not p.bounded:
            continue
        rules = ["integer=True"] * (p.domain == "integer")
        rules += [
            f"{key}={value!r}"
            for key, value in (
                ("min", p.min),
                ("max", p.max),
                ("above", p.above),
                ("below", p.below),
            )
            if value is not None
        ]
        lines.append(f'{check}("{spec.name}", "{p.name}", {owner}{p.name}, {", ".join(rules)})')
    return tuple(lines)

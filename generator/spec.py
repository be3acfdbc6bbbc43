"""Stage 1: YAML -> Spec. Validates shape and types; no SymPy here.

The loader is strict on purpose: PyYAML reads ``1e-3`` as a string and ``no`` as ``False``, silently
keeps the last of two equal keys, and a misspelt optional key would otherwise just be ignored.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

DOMAINS = ("positive", "nonnegative", "real", "integer")
PROPERTIES = ("normalized", "monotone", "even_grad")
EXPECT = ("match", "mismatch")

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_PARAM = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # no leading "_": generated locals use it
_CLASS = re.compile(r"^[A-Z][A-Za-z0-9]*$")


class SpecError(ValueError):
    """A spec file is malformed; the message is ``<path>: <field>: <what is wrong>``."""


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    domain: str
    doc: str


@dataclass(frozen=True)
class Backward:
    """A gradient formula published elsewhere, checked against d(origin)/dx."""

    source: str
    expr: str
    expect: str  # "match" or "mismatch" (a known-wrong or differently parametrised quote)
    note: str


@dataclass(frozen=True)
class Alias:
    """A name another library gives this surrogate (the same shape; its scale may differ)."""

    library: str
    name: str
    note: str  # how its parameters or scale map onto this spec's, if they differ


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    summary: str
    params: tuple[Param, ...]
    origin: str  # SymPy source text, parsed (never eval'd) by symbolic.py
    backward: tuple[Backward, ...]
    grad_impl: str | None
    origin_impl: str | None
    properties: tuple[str, ...]
    references: tuple[str, ...]
    notes: str
    path: str  # as shown in messages: "specs/<name>.yaml"
    class_name: str  # the spec's ``class_name``, or the CamelCase of ``name``
    aliases: tuple[Alias, ...] = ()


def camel_case(name: str) -> str:
    """``piecewise_quadratic`` -> ``PiecewiseQuadratic``: the default class name."""
    return "".join(part.capitalize() for part in name.split("_"))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise SpecError(
                f"(top level): mapping keys must be plain names"
                f" (line {key_node.start_mark.line + 1})"
            )
        if key in seen:
            raise SpecError(f"{key}: duplicate key (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _type_name(value: object) -> str:
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, bool):
        return f"a boolean ({value!r}; YAML 1.1 reads yes/no/on/off as booleans)"
    return f"{type(value).__name__} ({value!r})"


class _Fields:
    """Pops typed fields off one mapping, naming the field path in every error."""

    def __init__(self, path: str, where: str, raw: object) -> None:
        self.path, self.where = path, where
        if not isinstance(raw, dict):
            self.fail("", f"must be a mapping, got {_type_name(raw)}")
        self.raw: dict[Any, Any] = dict(raw)

    def fail(self, key: str, message: str) -> NoReturn:
        field = ".".join(part for part in (self.where, key) if part) or "(top level)"
        raise SpecError(f"{self.path}: {field}: {message}")

    def text(self, key: str, *, required: bool = True, default: str = "") -> str:
        if key not in self.raw:
            if required:
                self.fail(key, "missing required key")
            return default
        value = self.raw.pop(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {_type_name(value)}")
        return value.strip()

    def expression(self, key: str, *, required: bool = True) -> str:
        """Expression text; a bare YAML number (``expr: 1``) is accepted as its decimal text."""
        value = self.raw.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.raw[key] = repr(value)
        return self.text(key, required=required)

    def take(self, key: str) -> object:
        return self.raw.pop(key, None)

    def done(self, allowed: tuple[str, ...]) -> None:
        if self.raw:
            unknown = sorted(map(str, self.raw))
            self.fail("", f"unknown key(s) {unknown}; allowed keys are {list(allowed)}")


_TOP_KEYS = (
    "name",
    "class_name",
    "title",
    "summary",
    "aliases",
    "params",
    "origin",
    "backward",
    "grad_impl",
    "origin_impl",
    "properties",
    "references",
    "notes",
)


def _load_param(path: str, name: object, raw: object, reserved: Mapping[str, str]) -> Param:
    where = f"params.{name}"
    if not isinstance(name, str) or not _PARAM.match(name):
        raise SpecError(
            f"{path}: params: parameter name {name!r} is not an identifier"
            " (a letter, then letters, digits or _)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise SpecError(f"{path}: {where}: parameter name {name!r} is a Python keyword")
    if name in reserved:
        raise SpecError(f"{path}: {where}: parameter name {name!r} is {reserved[name]}")
    f = _Fields(path, where, raw)
    if "default" not in f.raw:
        f.fail("default", "missing required key")
    default = f.take("default")
    domain = f.text("domain", required=False, default="real")
    doc = f.text("doc")
    f.done(("default", "domain", "doc"))
    if domain not in DOMAINS:
        f.fail("domain", f"{domain!r} is not one of {list(DOMAINS)}")
    if isinstance(default, bool) or not isinstance(default, int | float):
        hint = " (write floats as 1.0e-3: YAML 1.1 reads 1e-3 as a string)"
        f.fail(
            "default",
            f"must be a number, got {_type_name(default)}" + hint * (type(default) is str),
        )
    assert isinstance(default, int | float)
    if isinstance(default, int) and abs(default) > 2**53:
        f.fail("default", f"{default!r} is too large (|default| <= 2**53)")
    if domain == "integer" and not isinstance(default, int):
        f.fail("default", f"{default!r} is not an integer (domain: integer)")
    value = float(default) if domain != "integer" else default
    ok = {
        "positive": value > 0,
        "nonnegative": value >= 0,
        "real": value == value and abs(value) != float("inf"),
        "integer": True,
    }[domain]
    if not ok or value != value or abs(value) == float("inf"):
        f.fail("default", f"{default!r} lies outside its domain {domain!r}")
    return Param(name=name, default=value, domain=domain, doc=doc)


def _load_backward(path: str, index: int, raw: object) -> Backward:
    f = _Fields(path, f"backward[{index}]", raw)
    source = f.text("source")
    expr = f.expression("expr")
    expect = f.text("expect", required=False, default="match")
    note = f.text("note", required=False)
    f.done(("source", "expr", "expect", "note"))
    if expect not in EXPECT:
        f.fail("expect", f"{expect!r} is not one of {list(EXPECT)}")
    if expect == "mismatch" and not note:
        f.fail(
            "note", "required when expect is 'mismatch': say what is wrong and the consistent form"
        )
    return Backward(source=source, expr=expr, expect=expect, note=note)


def _aliases(f: _Fields) -> tuple[Alias, ...]:
    raw = f.take("aliases")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        f.fail("aliases", f"must be a list of {{library, name[, note]}}, got {_type_name(raw)}")
    assert isinstance(raw, list)
    aliases = []
    for i, item in enumerate(raw):
        g = _Fields(f.path, f"aliases[{i}]", item)
        library, name = g.text("library"), g.text("name")
        note = g.text("note", required=False)
        g.done(("library", "name", "note"))
        aliases.append(Alias(library=library, name=name, note=note))
    return tuple(aliases)


def _string_list(f: _Fields, key: str) -> tuple[str, ...]:
    value = f.take(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        f.fail(key, f"must be a list of non-empty strings, got {_type_name(value)}")
    return tuple(v.strip() for v in value)


def _read_yaml(file: Path, path: str) -> object:
    try:
        return yaml.load(file.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except SpecError as err:
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path}: (top level): not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: (top level): not UTF-8 text") from None
    except RecursionError:
        raise SpecError(f"{path}: (top level): YAML nested too deeply") from None


def _refuse_unknown_keys(f: _Fields) -> None:
    """Before "missing key": a misspelt ``orgin:`` should be named as such."""
    unknown = sorted(str(k) for k in f.raw if k not in _TOP_KEYS)
    if unknown:
        hints = [
            f"{k!r} (did you mean {m[0]!r}?)"
            if (m := difflib.get_close_matches(k, _TOP_KEYS, 1))
            else repr(k)
            for k in unknown
        ]
        f.fail("", f"unknown key(s) {', '.join(hints)}; allowed keys are {list(_TOP_KEYS)}")


def _names(f: _Fields, stem: str) -> tuple[str, str]:
    """``name`` (the module name) and ``class_name`` (default: its CamelCase)."""
    name = f.text("name")
    if keyword.iskeyword(name):
        f.fail("name", f"{name!r} is a Python keyword")
    if not _NAME.match(name):
        f.fail("name", f"{name!r} must be snake_case: [a-z][a-z0-9]*(_[a-z0-9]+)*")
    if name != stem:
        f.fail("name", f"{name!r} must equal the file stem {stem!r}")
    class_name = f.text("class_name", required=False) or camel_case(name)
    if not _CLASS.match(class_name):
        f.fail("class_name", f"{class_name!r} must be CamelCase: [A-Z][A-Za-z0-9]*")
    return name, class_name


def _params(f: _Fields, reserved: Mapping[str, str]) -> tuple[Param, ...]:
    raw = f.take("params")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        what = "must be a mapping of name -> {default, domain, doc}"
        f.fail("params", f"{what}, got {_type_name(raw)}")
    assert isinstance(raw, dict)
    return tuple(_load_param(f.path, k, v, reserved) for k, v in raw.items())


def _backward_list(f: _Fields) -> tuple[Backward, ...]:
    raw = f.take("backward")
    if raw is None:
        f.fail("backward", "missing required key")
    if not isinstance(raw, list) or not raw:
        what = "must be a non-empty list of {source, expr}"
        f.fail("backward", f"{what}, got {_type_name(raw)}")
    assert isinstance(raw, list)
    return tuple(_load_backward(f.path, i, b) for i, b in enumerate(raw))


def _properties(f: _Fields) -> tuple[str, ...]:
    properties = _string_list(f, "properties")
    for prop in properties:
        if prop not in PROPERTIES:
            f.fail("properties", f"unknown property {prop!r}; known: {list(PROPERTIES)}")
    if len(set(properties)) != len(properties):
        f.fail("properties", "lists a property twice")
    return properties


def load_spec(
    file: Path, shown: str | None = None, reserved: Mapping[str, str] | None = None
) -> Spec:
    """Read and validate one spec; ``shown`` is the path used in messages.

    ``reserved`` maps the identifiers a parameter must not take to the reason (the input ``x``,
    the spec language's functions, names the generated code of some backend uses); the caller
    assembles it, so that this stage knows no backend.
    """
    reserved = {"x": "the input variable", **(reserved or {})}
    path = shown or f"{file.parent.name}/{file.name}"
    f = _Fields(path, "", _read_yaml(file, path))
    _refuse_unknown_keys(f)
    name, class_name = _names(f, file.stem)
    title = f.text("title")
    summary = f.text("summary")
    aliases = _aliases(f)
    params = _params(f, reserved)
    origin = f.expression("origin")
    backward = _backward_list(f)
    grad_impl = f.expression("grad_impl", required=False) or None
    origin_impl = f.expression("origin_impl", required=False) or None
    properties = _properties(f)
    references = _string_list(f, "references")
    notes = f.text("notes", required=False)
    f.done(_TOP_KEYS)
    return Spec(
        name=name,
        title=title,
        summary=summary,
        params=params,
        origin=origin,
        backward=backward,
        grad_impl=grad_impl,
        origin_impl=origin_impl,
        properties=properties,
        references=references,
        notes=notes,
        path=path,
        class_name=class_name,
        aliases=aliases,
    )


def load_specs(spec_dir: Path, reserved: Mapping[str, str] | None = None) -> list[Spec]:
    """All ``*.yaml`` under ``spec_dir``, sorted so that output order is stable."""
    files = sorted(spec_dir.glob("*.yaml"))
    specs = [load_spec(p, reserved=reserved) for p in files]
    seen: dict[str, str] = {}
    for spec in specs:  # names equal stems, but class names could still collide
        key = spec.class_name.lower()
        if key in seen:
            field = "class_name" if spec.class_name != camel_case(spec.name) else "name"
            raise SpecError(
                f"{spec.path}: {field}: class name {spec.class_name!r}"
                f" collides with the class of {seen[key]}"
            )
        seen[key] = spec.path
    return specs

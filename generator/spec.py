"""Stage 1: YAML -> Spec. Validates shape and types; no SymPy here.

The loader is strict on purpose: PyYAML reads ``1e-3`` as a string and ``no`` as ``False``, silently
keeps the last of two equal keys, and a misspelt optional key would otherwise just be ignored.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Collection, Mapping
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
    # Optional bounds: min/max inclusive, above/below exclusive (q-PseudoSpike's alpha > 1).
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None

    @property
    def bounded(self) -> bool:
        """An integer domain or an explicit bound: the generated code validates the value."""
        return self.domain == "integer" or any(
            b is not None for b in (self.min, self.max, self.above, self.below)
        )

    def describe_bounds(self) -> str:
        """``"an integer, 1 <= n <= 16"`` / ``"> 1"`` / ``""``: the constraints beyond the sign."""
        parts = ["an integer"] if self.domain == "integer" else []
        low = f"{_num(self.min)} <= " if self.min is not None else ""
        low = f"{_num(self.above)} < " if self.above is not None else low
        high = f" <= {_num(self.max)}" if self.max is not None else ""
        high = f" < {_num(self.below)}" if self.below is not None else high
        if low or high:
            parts.append(f"{low}{self.name}{high}")
        return ", ".join(parts)


def _num(value: float | None) -> str:
    return repr(value)


@dataclass(frozen=True)
class Backward:
    """A gradient formula published elsewhere, checked against d(origin)/dx."""

    source: str
    expr: str
    expect: str  # "match" or "mismatch" (a known-wrong or differently parametrised quote)
    note: str


# a preset's forward: x >= 0 -> 1, x > 0 -> 1, 0.5 at x == 0, or lava-dl's graded spike
# v*[x >= 0]/scale (with ``when``: a mode of a class whose other mode is another preset)
FORWARDS = ("ge", "gt", "half", "graded")


@dataclass(frozen=True)
class Preset:
    """One library's surrogate expressed through this spec's family: its gradient is
    ``scale * grad(x_map, **family)``, each an expression of ``x`` and the library's parameters."""

    library: str
    also: tuple[str, ...]  # libraries exporting the same API (brainpy re-exports braintools)
    class_name: str  # the library's class name, or "" if it has none
    function: str  # the library's function (or factory) name, or ""
    params: tuple[tuple[str, float], ...]  # the library's keyword names and defaults, in order
    family: tuple[tuple[str, str], ...]  # every family parameter as an expression of those
    x: str  # the family's input as an expression of x (affine)
    scale: str  # the factor on the family's gradient
    grad: str  # the library code's gradient, quoted; verified equal to scale * grad(x_map)
    origin: str | None  # the library code's origin, quoted, where it has one; verified too
    forward: str  # one of FORWARDS
    ignored: tuple[tuple[str, str], ...]  # parameters that leave the gradient alone, and why
    source: str  # where in the library the code lives
    note: str  # what a user switching from the library should know (code-vs-docs differences)
    # A keyword of the library's class that, when true, selects this preset in place of the
    # class's other one ("graded_spike": lava-dl's Spike); "" for a class or function of its own.
    when: str = ""

    @property
    def label(self) -> str:
        """``braintools.Sigmoid`` / ``spyx.tanh``: how messages and docs name the preset."""
        mode = f"({self.when}=True)" if self.when else ""
        return f"{self.library}.{self.class_name or self.function}{mode}"


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
    origin: str | None  # SymPy source text, parsed (never eval'd) by symbolic.py; None: grad-only
    backward: tuple[Backward, ...]
    grad_impl: str | None
    origin_impl: str | None
    properties: tuple[str, ...]
    references: tuple[str, ...]
    notes: str
    path: str  # as shown in messages: "specs/<name>.yaml"
    class_name: str  # the spec's ``class_name``, or the CamelCase of ``name``
    grad: str | None = None  # a gradient-only family's gradient (no closed-form origin)
    presets: tuple[Preset, ...] = ()
    aliases: tuple[Alias, ...] = ()

    @property
    def gradient_only(self) -> bool:
        return self.origin is None


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
    "grad",
    "backward",
    "grad_impl",
    "origin_impl",
    "properties",
    "references",
    "notes",
    "presets",
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
    bounds = {key: f.take(key) for key in _BOUNDS}
    f.done(("default", "domain", "doc", *_BOUNDS))
    if domain not in DOMAINS:
        f.fail("domain", f"{domain!r} is not one of {list(DOMAINS)}")
    value = _number(f, "default", default, integer=domain == "integer")
    ok = {
        "positive": value > 0,
        "nonnegative": value >= 0,
        "real": True,
        "integer": True,
    }[domain]
    if not ok:
        f.fail("default", f"{default!r} lies outside its domain {domain!r}")
    limits = {
        key: _number(f, key, raw_bound, integer=domain == "integer")
        if raw_bound is not None
        else None
        for key, raw_bound in bounds.items()
    }
    param = Param(name=name, default=value, domain=domain, doc=doc, **limits)
    _check_bounds(f, param)
    return param


_BOUNDS = ("min", "max", "above", "below")


def _number(f: _Fields, key: str, raw: object, *, integer: bool) -> float:
    """A finite YAML number (an int where ``integer``), as float (int for integers)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        hint = " (write floats as 1.0e-3: YAML 1.1 reads 1e-3 as a string)"
        f.fail(key, f"must be a number, got {_type_name(raw)}" + hint * (type(raw) is str))
    assert isinstance(raw, int | float)
    if isinstance(raw, int) and abs(raw) > 2**53:
        f.fail(key, f"{raw!r} is too large (|{key}| <= 2**53)")
    if raw != raw or abs(raw) == float("inf"):
        f.fail(key, f"{raw!r} is not a finite number")
    if integer and not isinstance(raw, int):
        f.fail(key, f"{raw!r} is not an integer (domain: integer)")
    return raw if integer else float(raw)


def _check_bounds(f: _Fields, p: Param) -> None:
    """At most one lower and one upper bound, consistent, and the default inside them."""
    if p.min is not None and p.above is not None:
        f.fail("above", "give either min (inclusive) or above (exclusive), not both")
    if p.max is not None and p.below is not None:
        f.fail("below", "give either max (inclusive) or below (exclusive), not both")
    low = p.min if p.min is not None else p.above
    high = p.max if p.max is not None else p.below
    if low is not None and high is not None and not low < high:
        f.fail("max" if p.max is not None else "below", f"{high!r} is not above {low!r}")
    d = p.default
    for key, bound, inside in (
        ("min", p.min, lambda b: d >= b),
        ("max", p.max, lambda b: d <= b),
        ("above", p.above, lambda b: d > b),
        ("below", p.below, lambda b: d < b),
    ):
        if bound is not None and not inside(bound):
            f.fail("default", f"{d!r} lies outside the bound {key}: {bound!r}")


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
    file: Path,
    shown: str | None = None,
    reserved: Mapping[str, str] | None = None,
    libraries: Collection[str] | None = None,
) -> Spec:
    """Read and validate one spec; ``shown`` is the path used in messages.

    ``reserved`` maps the identifiers a parameter must not take to the reason (the input ``x``,
    the spec language's functions, names the generated code of some backend uses), and
    ``libraries`` are the library names a preset may name (None: any snake_case name); the caller
    assembles both, so that this stage knows no backend.
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
    origin, grad = _origin_or_grad(f)
    backward = _backward_list(f)
    grad_impl = f.expression("grad_impl", required=False) or None
    origin_impl = f.expression("origin_impl", required=False) or None
    properties = _properties(f)
    references = _string_list(f, "references")
    notes = f.text("notes", required=False)
    presets = _presets(f, params, libraries)
    f.done(_TOP_KEYS)
    if grad is not None:
        for key, value in (("origin_impl", origin_impl), ("grad_impl", grad_impl)):
            if value is not None:
                f.fail(key, "a gradient-only family (grad:) has no origin to rewrite; remove it")
        if "normalized" in properties:
            f.fail("properties", "normalized needs an origin; a gradient-only family has none")
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
        grad=grad,
        presets=presets,
        aliases=aliases,
    )


def _origin_or_grad(f: _Fields) -> tuple[str | None, str | None]:
    """Exactly one of ``origin`` (a smooth step) and ``grad`` (a gradient-only family)."""
    if "origin" in f.raw and "grad" in f.raw:
        f.fail("grad", "give either origin (the family's smooth step) or grad, not both")
    if "grad" in f.raw:
        return None, f.expression("grad")
    if "origin" not in f.raw:
        f.fail("origin", "missing required key (or grad: for a family with no closed-form origin)")
    return f.expression("origin"), None


_PRESET_KEYS = (
    "library",
    "also",
    "class",
    "function",
    "params",
    "family",
    "x",
    "scale",
    "grad",
    "origin",
    "forward",
    "ignored",
    "source",
    "note",
    "when",
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _library(f: _Fields, key: str, value: object, libraries: Collection[str] | None) -> str:
    """A library name: one the caller knows (the backends' registry), or any snake_case name."""
    if libraries is not None and value not in libraries:
        f.fail(key, f"{value!r} is not one of {sorted(libraries)}")
    if not isinstance(value, str) or not _NAME.match(value):
        f.fail(key, f"{value!r} is not a library name (snake_case)")
    assert isinstance(value, str)
    return value


def _load_preset(
    path: str,
    index: int,
    raw: object,
    family: tuple[Param, ...],
    libraries: Collection[str] | None,
) -> Preset:
    f = _Fields(path, f"presets[{index}]", raw)
    library = _library(f, "library", f.take("library"), libraries)
    also = tuple(_library(f, "also", v, libraries) for v in _string_list(f, "also"))
    class_name = f.text("class", required=False)
    function = f.text("function", required=False)
    if not class_name and not function:
        f.fail("class", "give the library's class name, its function name, or both")
    for key, value in (("class", class_name), ("function", function)):
        if value and (not _IDENT.match(value) or keyword.iskeyword(value)):
            f.fail(key, f"{value!r} is not a Python identifier")
    params = _preset_params(f)
    names = {name for name, _ in params}
    raw_family = f.take("family") or {}
    if not isinstance(raw_family, dict):
        f.fail("family", f"must be a mapping of family parameter -> expression, got {raw_family!r}")
    assert isinstance(raw_family, dict)
    unknown = sorted(set(map(str, raw_family)) - {p.name for p in family})
    if unknown:
        f.fail("family", f"{unknown} are not parameters of this family")
    mapping: list[tuple[str, str]] = []
    for p in family:
        raw_value = raw_family.get(p.name, p.name if p.name in names else None)
        if raw_value is None:
            f.fail("family", f"no value for the family parameter {p.name!r}")
        text = "" if isinstance(raw_value, bool) else str(raw_value).strip()
        if not text:
            f.fail(f"family.{p.name}", "must be an expression")
        mapping.append((p.name, text))
    x_map = f.expression("x", required=False) or "x"
    scale = f.expression("scale", required=False) or "1"
    grad = f.expression("grad")
    origin = f.expression("origin", required=False) or None
    forward = f.text("forward", required=False, default="ge")
    if forward not in FORWARDS:
        f.fail("forward", f"{forward!r} is not one of {list(FORWARDS)}")
    ignored = _ignored(f, names)
    source = f.text("source")
    note = f.text("note", required=False)
    when = f.text("when", required=False)
    if when and (not class_name or function or not _IDENT.match(when)):
        f.fail("when", "a mode of a class: give class (no function) and a keyword name")
    if (forward == "graded") != bool(when):
        f.fail("forward", "'graded' is a class mode: it goes with when (and only it)")
    f.done(_PRESET_KEYS)
    return Preset(
        library=library,
        also=also,
        class_name=class_name,
        function=function,
        params=params,
        family=tuple(mapping),
        x=x_map,
        scale=scale,
        grad=grad,
        origin=origin,
        forward=forward,
        ignored=ignored,
        source=source,
        note=note,
        when=when,
    )


def _preset_params(f: _Fields) -> tuple[tuple[str, float], ...]:
    """The library's keyword names with their defaults, ``{alpha: 4.0, n: 2}``, in order."""
    raw = f.take("params") or {}
    if not isinstance(raw, dict):
        f.fail("params", f"must be a mapping of name -> default, got {_type_name(raw)}")
    assert isinstance(raw, dict)
    params = []
    for name, default in raw.items():
        if not isinstance(name, str) or not _PARAM.match(name) or keyword.iskeyword(name):
            f.fail("params", f"{name!r} is not a parameter name")
        if name == "x":
            f.fail("params", "'x' is the input variable")
        value = _number(f, f"params.{name}", default, integer=isinstance(default, int))
        params.append((name, value))
    return tuple(params)


def _ignored(f: _Fields, names: set[str]) -> tuple[tuple[str, str], ...]:
    raw = f.take("ignored") or {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v for v in raw.values()):
        f.fail("ignored", "must be a mapping of parameter -> why it leaves the gradient alone")
    assert isinstance(raw, dict)
    for name in raw:
        if name not in names:
            f.fail("ignored", f"{name!r} is not one of the preset's params")
    return tuple((str(k), str(v).strip()) for k, v in raw.items())


def _presets(
    f: _Fields, family: tuple[Param, ...], libraries: Collection[str] | None
) -> tuple[Preset, ...]:
    raw = f.take("presets")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        f.fail("presets", f"must be a list of presets, got {_type_name(raw)}")
    assert isinstance(raw, list)
    presets = tuple(_load_preset(f.path, i, p, family, libraries) for i, p in enumerate(raw))
    seen: dict[tuple[str, str, str], int] = {}
    for i, preset in enumerate(presets):
        for library in (preset.library, *preset.also):
            for name in (preset.class_name, preset.function):
                if name and (library, name, preset.when) in seen:
                    other = seen[library, name, preset.when]
                    f.fail(f"presets[{i}]", f"{library}.{name} is also presets[{other}]")
                if name:
                    seen[library, name, preset.when] = i
    return presets


def load_specs(
    spec_dir: Path,
    reserved: Mapping[str, str] | None = None,
    libraries: Collection[str] | None = None,
) -> list[Spec]:
    """All ``*.yaml`` under ``spec_dir``, sorted so that output order is stable."""
    files = sorted(spec_dir.glob("*.yaml"))
    specs = [load_spec(p, reserved=reserved, libraries=libraries) for p in files]
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
    owner: dict[tuple[str, str, str], str] = {}
    for spec in specs:  # one library name is one preset, whichever family it belongs to
        for preset in spec.presets:
            for library in (preset.library, *preset.also):
                for name in filter(None, (preset.class_name, preset.function)):
                    which = (library, name, preset.when)
                    if which in owner and owner[which] != spec.path:
                        raise SpecError(
                            f"{spec.path}: presets: {preset.label} is also a preset of"
                            f" {owner[which]}"
                        )
                    owner[which] = spec.path
    modes = {(lib, name) for lib, name, when in owner if when}
    for lib, name in sorted(modes - {(lib, name) for lib, name, when in owner if not when}):
        path = next(p for (lb, n, w), p in owner.items() if (lb, n) == (lib, name) and w)
        raise SpecError(f"{path}: presets: when: {lib}.{name} has no preset of its own to switch")
    return specs

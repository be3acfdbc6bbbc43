"""Parity with the real libraries: every JAX preset against the library it reproduces.

For each preset of a JAX library (the ``presets:`` of every spec), the library's own spike
function and ours are called with the same arguments at a few hundred points (a grid over the
gradient's support, the tails, both sides of every kink, never exactly on one), in float64 and
float32, with the library's defaults and with every parameter moved (x1.37, integers +1). Compared:
the forward values (exactly), the gradient by each side's own autodiff, and the library's origin
(``surrogate_fun``) where it has one.

Run with ``make test-parity`` (installs the ``parity`` extra: the libraries at the versions the
presets were audited against). Without the libraries these tests skip, unless SURROGEN_PARITY=1
(as ``make test-parity`` and CI set it), where a missing library is a failure.

``python tests/test_parity.py`` prints the worst relative error of every preset.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.reference import SPECS, checked

pytestmark = pytest.mark.parity
jax = pytest.importorskip("jax")
jnp = jax.numpy

REQUIRED = os.environ.get("SURROGEN_PARITY") == "1"
# How each library is imported: a module path, or a file of an installed package (snnax 0.0.1's
# package __init__ fails: snnax.snn imports a module `init` that the wheel does not contain).
LIBRARY_MODULES = {
    "braintools": ("braintools.surrogate", None),
    "brainpy": ("brainpy.math", "surrogate"),
    "spyx": ("spyx.axn", None),
    "jaxsnn": ("jaxsnn.discrete.functional.threshold", None),
    "snnax": ("snnax", "functional/surrogate.py"),
    "brainpy2": ("brainpy==2.6.0", "brainpy/_src/math/surrogate/_one_input_new.py"),
}
CLASS_STYLE = {"braintools", "brainpy", "brainpy2"}
# brainpy 2.6.0 cannot be installed beside brainpy 2.8.2 (the same package): make test-parity
# downloads its wheel here, and its surrogate module is run from the wheel.
WHEELS = Path(sys.prefix) / "parity-wheels"
# Where a preset's surrogate_fun is not the library's, by design: the library's is wrong at run
# time (each preset's note says so), and surrogen's is the antiderivative of the gradient.
# test_documented_origin_differences checks that each still differs.
ORIGIN_DIFFERS = {
    ("brainpy2", "Arctan"): "calls jnp.arctan2 with one argument (TypeError)",
    ("brainpy2", "ERF"): "erf(-alpha*x)/2, decreasing from 1/2 to -1/2",
    ("brainpy2", "QPseudoSpike"): "alpha - 1 where its gradient has alpha + 1, and a sign error",
    ("brainpy2", "LogTailedRelu"): "log(x) for x > 1, a jump from 1 to 0 at x = 1",
}
FACTORY_STYLE = {"spyx", "snnax"}
# Relative tolerance per dtype; the absolute floor is this times the gradient's peak (near a
# zero of the gradient, or in a tail computed in another algebraic form, relative error is
# meaningless: braintools' float32 sigmoid at x = 1 is 0.07065094, the exact value 0.070650825).
RTOL = {"float64": 1e-12, "float32": 1e-5}
# Plus ROUNDING * eps * |x * f'(x)|: how much rounding x (or a product with x) moves f. A library
# that evaluates sin(2*pi*x/T) directly in float32 is off by that much at large |x|, where
# surrogen reduces x modulo the period exactly.
ROUNDING = 8


def _brainpy26(member: str) -> ModuleType:
    """brainpy 2.6.0's surrogate module, run from its wheel. Three of its imports no longer
    resolve beside jax 0.10 and brainpy 2.8 and are replaced: Primitive moved to jax.extend.core,
    and as_jax / Array (brainpy's own array type, which these tests never pass) become
    jnp.asarray and an empty class. The surrogate code itself runs unchanged."""
    wheels = sorted(WHEELS.glob("brainpy-2.6.0-*.whl"))
    if not wheels:
        raise ImportError(f"no brainpy 2.6.0 wheel in {WHEELS}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        source = wheel.read(member).decode()
    for old, new in (
        ("from jax.core import Primitive", "from jax.extend.core import Primitive"),
        ("from brainpy._src.math.interoperability import as_jax", "as_jax = jnp.asarray"),
        ("from brainpy._src.math.ndarray import Array", "class Array:\n  pass"),
    ):
        assert old in source, old
        source = source.replace(old, new)
    module = ModuleType("_parity_brainpy26")
    exec(compile(source, f"{wheels[0].name}/{member}", "exec"), module.__dict__)
    return module


def library_module(library: str) -> ModuleType:
    name, part = LIBRARY_MODULES[library]
    try:
        if library == "brainpy2":
            assert part is not None
            return _brainpy26(part)
        if part is None:
            return importlib.import_module(name)
        if part.endswith(".py"):
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.submodule_search_locations
            path = Path(spec.submodule_search_locations[0]) / part
            file_spec = importlib.util.spec_from_file_location(f"_parity_{library}", path)
            assert file_spec is not None and file_spec.loader is not None
            module = importlib.util.module_from_spec(file_spec)
            file_spec.loader.exec_module(module)
            return module
        return getattr(importlib.import_module(name), part)
    except ImportError as err:
        if REQUIRED:
            raise
        pytest.skip(f"{library} is not installed ({err}); make test-parity installs it")


def cases() -> list[tuple[str, str, int]]:
    """(library, spec name, index of the preset in the spec) for every JAX library's preset."""
    found = []
    for name, spec in sorted(SPECS.items()):
        for i, preset in enumerate(spec.presets):
            for library in (preset.library, *preset.also):
                if library in LIBRARY_MODULES:
                    found.append((library, name, i))
    return found


CASES = cases()


def _label(case: tuple[str, str, int]) -> str:
    library, name, i = case
    preset = SPECS[name].presets[i]
    return f"{library}.{preset.class_name or preset.function}"


def param_sets(name: str, i: int) -> list[dict[str, float]]:
    preset = SPECS[name].presets[i]
    defaults = dict(preset.params)
    moved = {
        k: (v + 1 if isinstance(v, int) else (v * 1.37 if v else 0.37))
        for k, v in preset.params
        if k not in dict(preset.ignored)
    }
    return [defaults, {**defaults, **moved}]


def points(name: str, i: int, params: dict[str, float]) -> np.ndarray:
    """A few hundred x: a grid over the support, tails, and both sides of every kink."""
    facts = checked(name).presets[i]
    pm = facts.model
    values = [params[k] for k, _ in pm.preset.params]
    import sympy

    subs = dict(zip(pm.params, values, strict=True))
    slope = float(sympy.diff(pm.x_map, checked(name).model.x).subs(subs))
    shift = float(pm.x_map.subs({checked(name).model.x: 0, **subs}))
    family = [float(e.subs(subs)) for e in pm.family]
    kinks = [
        (float(b.subs(dict(zip(checked(name).model.params, family, strict=True)))) - shift) / slope
        for b in checked(name).model.breakpoints
    ]
    kinks = [k for k in kinks if np.isfinite(k)]
    width = max([abs(k) for k in kinks] + [1.0 / abs(slope), 1.0])
    grid = np.linspace(-6 * width, 6 * width, 241)
    tails = np.array([10.0, 30.0, 100.0, 1e3, 1e4]) * width
    near = [k + s * d * width for k in kinks for s in (-1, 1) for d in (1e-6, 1e-3, 1e-1)]
    xs = np.unique(np.concatenate([grid, tails, -tails, near]))
    far_from_kinks = [not np.any(np.isclose(x, kinks, rtol=0, atol=1e-9 * width)) for x in xs]
    return xs[np.array(far_from_kinks)] if kinks else xs


def functions(library: str, name: str, i: int, params: dict[str, float]) -> dict[str, Callable]:
    """The library's and surrogen's spike function (and origin) for one preset and parameters."""
    lib = library_module(library)
    ours = importlib.import_module(f"surrogen.jax.presets.{library}")
    preset = SPECS[name].presets[i]
    found: dict[str, Callable] = {}
    if library in CLASS_STYLE:
        theirs_obj = getattr(lib, preset.class_name)(**params)
        ours_obj = getattr(ours, preset.class_name)(**params)
        found["theirs"], found["ours"] = theirs_obj, ours_obj
        found["theirs_fn"] = lambda x: getattr(lib, preset.function)(x, **params)
        found["ours_fn"] = lambda x: getattr(ours, preset.function)(x, **params)
        if preset.origin is not None and (library, preset.class_name) not in ORIGIN_DIFFERS:
            found["theirs_origin"], found["ours_origin"] = (
                theirs_obj.surrogate_fun,
                ours_obj.surrogate_fun,
            )
    elif library in FACTORY_STYLE:
        found["theirs"] = getattr(lib, preset.function)(**params)
        found["ours"] = getattr(ours, preset.function)(**params)
    else:
        found["theirs"] = lambda x: getattr(lib, preset.function)(x, *params.values())
        found["ours"] = lambda x: getattr(ours, preset.function)(x, **params)
    return found


def _grad(fn: Callable, x: jax.Array) -> np.ndarray:
    return np.asarray(jax.grad(lambda v: fn(v).sum())(x))


def compare(library: str, name: str, i: int, dtype: str) -> dict[str, float]:
    """Worst relative difference (to the gradient's peak) of grad and origin, over both
    parameter sets; asserts that the forward values are identical."""
    worst = {"grad": 0.0, "origin": 0.0}
    with jax.enable_x64(dtype == "float64"):
        for params in param_sets(name, i):
            fns = functions(library, name, i, params)
            x = jnp.asarray(points(name, i, params), dtype=dtype)
            pairs = [("theirs", "ours")] + [("theirs_fn", "ours_fn")] * ("theirs_fn" in fns)
            for theirs, ours in pairs:
                a, b = np.asarray(fns[theirs](x)), np.asarray(fns[ours](x))
                assert a.dtype == b.dtype == np.dtype(dtype), (a.dtype, b.dtype)
                np.testing.assert_array_equal(b, a, err_msg=f"forward {params}")
                ga, gb = _grad(fns[theirs], x), _grad(fns[ours], x)
                second = np.asarray(jax.vmap(jax.grad(jax.grad(fns[ours])))(x))
                slack = _slack(x, second, dtype)
                worst["grad"] = max(worst["grad"], _error(gb, ga, slack, params, "grad", dtype))
            if "theirs_origin" in fns:
                oa = np.asarray(fns["theirs_origin"](x))
                ob = np.asarray(fns["ours_origin"](x))
                slack = _slack(x, _grad(fns["ours"], x), dtype)
                error = _error(ob, oa, slack, params, "origin", dtype)
                worst["origin"] = max(worst["origin"], error)
    return worst


def _slack(x: jax.Array, derivative: np.ndarray, dtype: str) -> np.ndarray:
    """ROUNDING * eps * |x * f'(x)|, with f' surrogen's own derivative of the compared f."""
    eps = float(np.finfo(dtype).eps)
    return ROUNDING * eps * np.abs(np.asarray(x, np.float64) * np.nan_to_num(derivative))


def _error(
    got: np.ndarray, want: np.ndarray, slack: np.ndarray, params: dict, what: str, dtype: str
) -> float:
    """max (|got - want| - slack) / (|want| + peak); asserts it is within RTOL."""
    assert np.all(np.isfinite(got) == np.isfinite(want)), f"{what} {params}: NaN/inf differ"
    finite = np.isfinite(want)
    scale = np.max(np.abs(want[finite])) if finite.any() else 1.0
    excess = np.maximum(np.abs(got - want) - slack, 0.0)[finite]
    err = excess / (np.abs(want[finite]) + scale)
    worst = float(err.max()) if err.size else 0.0
    assert worst <= RTOL[dtype], f"{what} {params}: relative error {worst:.3g} > {RTOL[dtype]}"
    return worst


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[_label(c) for c in CASES])
def test_preset_matches_the_library(case, dtype):
    compare(*case, dtype)


@pytest.mark.parametrize("library", sorted(LIBRARY_MODULES))
def test_every_library_name_is_provided(library):
    """Every surrogate the library exports has a preset of that name, or is listed as missing."""
    from surrogen.generator.backends.jax_presets import STYLES

    lib = library_module(library)
    ours = importlib.import_module(f"surrogen.jax.presets.{library}")
    missing = {name for name, _ in STYLES[library].missing}
    theirs = {n for n in getattr(lib, "__all__", dir(lib)) if not n.startswith("_")}
    exported = {
        "spyx": {"tanh", "boxcar", "triangular", "arctan", "superspike", "custom", "heaviside"},
        "jaxsnn": {"superspike", "heaviside"},
        "snnax": {"superspike_surrogate", "sigmoid_surrogate", "piecewise_surrogate"},
    }.get(library, theirs)
    assert exported <= theirs | {"heaviside"}
    absent = sorted(n for n in exported if not hasattr(ours, n))
    assert set(absent) == missing, absent


@pytest.mark.parametrize("key", sorted(ORIGIN_DIFFERS), ids=lambda k: ".".join(k))
def test_documented_origin_differences(key):
    """The library origins the presets do not reproduce still differ from surrogen's (else the
    exception is stale), and surrogen's is the antiderivative of the gradient they share."""
    library, class_name = key
    lib = library_module(library)
    ours = getattr(importlib.import_module(f"surrogen.jax.presets.{library}"), class_name)()
    x = jnp.linspace(-3.0, 3.0, 61)
    try:
        theirs = np.asarray(getattr(lib, class_name)().surrogate_fun(x))
    except TypeError:
        theirs = None
    if theirs is not None:
        assert not np.allclose(theirs, np.asarray(ours.surrogate_fun(x)), atol=1e-6)
    with jax.enable_x64(True):
        x64 = jnp.linspace(-3.0, 3.0, 61, dtype=jnp.float64)
        slope = jax.vmap(jax.grad(ours.surrogate_fun))(x64)
        np.testing.assert_allclose(slope, ours.surrogate_grad(x64), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_brainpy2_square_wave_term_count(n):
    """brainpy 2.6 sums max(n - 1, 1) terms: n = 1 gives one term, not none (spikingjelly's)."""
    lib, ours = library_module("brainpy2"), importlib.import_module("surrogen.jax.presets.brainpy2")
    with jax.enable_x64(True):
        x = jnp.linspace(-9.0, 9.0, 181, dtype=jnp.float64)
        a = _grad(lib.SquarewaveFourierSeries(n=n), x)
        b = _grad(ours.SquarewaveFourierSeries(n=n), x)
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_brainpy_is_braintools():
    """brainpy 2.8 re-exports braintools' surrogates: one preset set serves both."""
    if library_module("brainpy") is not library_module("braintools"):
        pytest.fail("brainpy.math.surrogate is no longer braintools.surrogate")


def test_switching_is_an_import_change():
    """A braintools user's script runs unchanged on surrogen's module, with the same numbers."""
    import surrogen.jax.presets.braintools as ours

    theirs = library_module("braintools")

    def script(surrogate):
        w = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
        fns = [surrogate.Sigmoid(alpha=4.0), surrogate.ReluGrad(), surrogate.QPseudoSpike(3.0)]

        def loss(w):
            v = jnp.tanh(jnp.arange(1.0, 4.0) @ w) - 0.2
            out = 0.0
            for f in fns:
                out += (f(v) * v).sum()
            return out + surrogate.sigmoid(v, alpha=2.0).sum()

        return jax.jit(jax.grad(loss))(w), fns[0].surrogate_fun(w), fns[2].surrogate_grad(w)

    for a, b in zip(script(theirs), script(ours), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-6, atol=1e-7)


def test_the_switching_example_gives_the_same_numbers():
    """examples/switch_from_braintools.py: a LIF network's loss and gradients, both ways."""
    path = Path(__file__).resolve().parents[1] / "examples" / "switch_from_braintools.py"
    spec = importlib.util.spec_from_file_location("switch_from_braintools", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    theirs = example.run(library_module("braintools"))
    ours = example.run(importlib.import_module("surrogen.jax.presets.braintools"))
    assert float(ours[0]) == float(theirs[0])
    for a, b in zip(theirs[1], ours[1], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * float(np.max(np.abs(a))))
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6)


if __name__ == "__main__":
    jax.config.update("jax_platforms", "cpu")
    for case in CASES:
        for dtype in ("float64", "float32"):
            r = compare(*case, dtype)
            print(f"{_label(case):40s} {dtype}  grad {r['grad']:.1e}  origin {r['origin']:.1e}")

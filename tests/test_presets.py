"""The generated JAX presets without the libraries: each preset's gradient and origin against the
library's code formula as its spec quotes it (evaluated by mpmath: independent of surrogen's family
code and of the library), its forward convention, and the library's API shape. The comparison with
the installed libraries themselves is test_parity.py (make test-parity)."""

from __future__ import annotations

import importlib
import shutil
import textwrap

import mpmath
import numpy as np
import pytest
import sympy

from surrogen.generator.__main__ import main
from surrogen.generator.backends.jax_presets import STYLES
from tests.reference import ROOT, SPECS, checked, lambdify_mpmath

jax = pytest.importorskip("jax")
jnp = jax.numpy

CASES = [
    (library, name, i)
    for name, spec in sorted(SPECS.items())
    for i, preset in enumerate(spec.presets)
    for library in (preset.library, *preset.also)
    if library in STYLES
]
IDS = [
    f"{lib}.{SPECS[n].presets[i].class_name or SPECS[n].presets[i].function}" for lib, n, i in CASES
]
XS = np.concatenate([np.linspace(-4.0, 4.0, 161), [-40.0, -12.5, 12.5, 40.0, 1e3, -1e3]])


def module(library):
    return importlib.import_module(f"surrogen.jax.presets.{library}")


def spike_fn(library, name, i, params):
    """The preset's spike function of x with these parameters, in the library's API shape."""
    preset, ours = SPECS[name].presets[i], module(library)
    style = STYLES[library]
    if style.classes:
        return getattr(ours, preset.class_name)(**params)
    if style.functions == "factory":
        return getattr(ours, preset.function)(**params)
    return lambda x: getattr(ours, preset.function)(x, **params)


def quoted(name, i, what, xs, params):
    """The library's formula as the spec quotes it, at 50 digits (NaN where undefined)."""
    pm = checked(name).presets[i].model
    expr = pm.quoted_grad if what == "grad" else pm.quoted_origin
    f = lambdify_mpmath((checked(name).model.x, *pm.params), expr)
    values = [params[n] for n, _ in pm.preset.params]
    out = []
    with mpmath.workdps(50):
        for x in xs:
            try:
                out.append(float(f(mpmath.mpf(float(x)), *values)))
            except (ZeroDivisionError, ValueError):
                out.append(np.nan)
    return np.array(out)


def away_from_kinks(name, i, params, xs):
    """Drop points within 1e-6 of a kink of the quoted formula (library conventions differ)."""
    pm = checked(name).presets[i].model
    x = checked(name).model.x
    subs = dict(zip(pm.params, [params[n] for n, _ in pm.preset.params], strict=True))
    kinks = []
    for b in checked(name).model.breakpoints:
        family = dict(
            zip(checked(name).model.params, [e.subs(subs) for e in pm.family], strict=True)
        )
        u = b.subs(family)
        slope = sympy.diff(pm.x_map, x).subs(subs)
        kinks.append(float((u - pm.x_map.subs({x: 0, **subs})) / slope))
    keep = [not any(abs(v - k) < 1e-6 for k in kinks) for v in xs]
    return xs[np.array(keep)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_preset_gradient_and_origin_equal_the_quoted_library_code(case):
    library, name, i = case
    preset = SPECS[name].presets[i]
    for params in (
        dict(preset.params),
        {k: (v + 1 if isinstance(v, int) else v * 1.25) for k, v in preset.params},
    ):
        xs = away_from_kinks(name, i, params, XS)
        fn = spike_fn(library, name, i, params)
        with jax.enable_x64(True):
            x = jnp.asarray(xs)
            got = np.asarray(jax.grad(lambda v, fn=fn: fn(v).sum())(x))
            want = quoted(name, i, "grad", xs, params)
            scale = np.nanmax(np.abs(want))
            np.testing.assert_allclose(
                got, want, rtol=1e-10, atol=1e-13 * scale, err_msg=str(params)
            )
            if preset.origin is not None and STYLES[library].classes:
                origin = np.asarray(fn.surrogate_fun(x))
                np.testing.assert_allclose(
                    origin, quoted(name, i, "origin", xs, params), rtol=1e-10, atol=1e-12
                )
        # float32 in, float32 out, and derivatives of the gradient stay finite
        x32 = jnp.asarray(xs, jnp.float32)
        assert fn(x32).dtype == jnp.float32
        g32 = jax.grad(lambda v, fn=fn: fn(v).sum())(x32)
        assert g32.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(g32)))
        np.testing.assert_allclose(g32, want, rtol=2e-5, atol=2e-6 * scale)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_convention(case):
    library, name, i = case
    preset = SPECS[name].presets[i]
    fn = spike_fn(library, name, i, dict(preset.params))
    x = jnp.array([-1.0, -1e-45, -0.0, 0.0, 1e-45, 1.0, jnp.inf, -jnp.inf], jnp.float32)
    at_zero = {"ge": 1.0, "gt": 0.0, "half": 0.5}[preset.forward]
    want = [0.0, 0.0, at_zero, at_zero, 1.0, 1.0, 1.0, 0.0]
    np.testing.assert_array_equal(np.asarray(fn(x)), want)
    assert np.isnan(np.asarray(fn(jnp.array([jnp.nan])))[0]) == (preset.forward == "half")


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if STYLES[c[0]].classes],
    ids=lambda c: f"{c[0]}.{SPECS[c[1]].presets[c[2]].class_name}",
)
def test_class_api(case):
    library, name, i = case
    preset = SPECS[name].presets[i]
    ours = module(library)
    cls = getattr(ours, preset.class_name)
    obj = cls()
    assert isinstance(obj, ours.Surrogate)
    assert (
        repr(obj) == f"{preset.class_name}(" + ", ".join(f"{k}={v}" for k, v in preset.params) + ")"
    )
    assert obj == cls() and hash(obj) == hash(cls())
    x = jnp.linspace(-2.0, 2.0, 9)
    np.testing.assert_array_equal(obj(x), getattr(ours, preset.function)(x))
    np.testing.assert_allclose(
        jax.grad(lambda v: obj(v).sum())(x), obj.surrogate_grad(x), rtol=1e-6
    )
    # Under jit, vmap, forward mode and a second derivative.
    jax.jit(lambda v: obj(v))(x)
    jax.vmap(jax.grad(obj))(x)
    _, tangent = jax.jvp(obj, (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(tangent, obj.surrogate_grad(x), rtol=1e-6)
    assert np.all(np.isfinite(np.asarray(jax.vmap(jax.grad(jax.grad(obj)))(x))))


def test_a_user_subclass_of_surrogate_works_like_braintools():
    ours = module("braintools")

    class Tanh(ours.Surrogate):
        def surrogate_grad(self, x):
            return 1 - jnp.tanh(x) ** 2

    x = jnp.linspace(-2.0, 2.0, 5)
    np.testing.assert_array_equal(Tanh()(x), x >= 0)
    np.testing.assert_allclose(
        jax.grad(lambda v: Tanh()(v).sum())(x), 1 - jnp.tanh(x) ** 2, rtol=1e-6
    )


def test_preset_parameter_outside_the_family_is_an_error():
    """braintools allows QPseudoSpike(alpha <= 1); the family needs alpha > 1 (documented)."""
    surrogate = module("braintools").QPseudoSpike(alpha=1.0)
    with pytest.raises(ValueError, match=r"q_pseudo_spike: alpha must be > 1\.0"):
        jax.grad(lambda v: surrogate(v).sum())(jnp.ones(3))


def test_brainpy_module_mirrors_braintools():
    bt, bp = module("braintools"), module("brainpy")
    assert bt.__all__ == bp.__all__
    x = jnp.linspace(-2.0, 2.0, 9)
    for name in bt.__all__:
        if name[0].isupper() and name != "Surrogate":
            np.testing.assert_array_equal(
                jax.grad(lambda v, name=name: getattr(bp, name)()(v).sum())(x),
                jax.grad(lambda v, name=name: getattr(bt, name)()(v).sum())(x),
            )


# --- the generator's checks of the preset data ----------------------------------------------------

GOOD = textwrap.dedent(
    """\
    name: tanh_step
    title: Tanh step
    summary: A spec with one preset, written by the tests.
    params:
      k: {default: 3.0, domain: positive, doc: "Steepness."}
    origin: (1 + tanh(k*x))/2
    backward:
      - source: the test itself
        expr: k*(1 - tanh(k*x)**2)/2
    presets:
      - library: spyx
        function: tanh
        params: {k: 1.0}
        family: {k: k}
        scale: 2/k
        grad: 4/(exp(-k*x) + exp(k*x))**2
        forward: gt
        source: spyx/axn.py
    """
)


def _generate(tmp_path, text):
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / "tanh_step.yaml").write_text(text)
    return main(["--specs", str(specs), "--out", str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("scale: 2/k", "scale: 1/k"),
            r"presets\[0\]\.grad: spyx\.tanh differs from the family's at x = \S+, k = 1\.0:",
        ),
        (("library: spyx", "library: spxy"), r"presets\[0\]\.library: 'spxy' is not one of"),
        (("params: {k: 1.0}", "params: {k: 1.0, m: 2.0}"), r"presets\[0\]\.params\.m: not used"),
        (("scale: 2/k", "scale: 2/k\n    x: x**2"), r"presets\[0\]\.x: must be affine in x"),
        (
            ("family: {k: k}", "family: {k: -k}"),
            r"presets\[0\]\.family: spyx\.tanh \(k = 1\.0\) maps to k = -1\.0, outside",
        ),
        (("forward: gt", "forward: up"), r"presets\[0\]\.forward: 'up' is not one of"),
        (("forward: gt", "forward: graded"), r"presets\[0\]\.forward: 'graded' is a class mode"),
        (
            ("forward: gt", "forward: graded\n    when: graded_spike"),
            r"presets\[0\]\.when: a mode of a class: give class \(no function\)",
        ),
    ],
)
def test_bad_preset_is_rejected(tmp_path, capsys, change, message):
    assert _generate(tmp_path, GOOD) == 0
    assert (tmp_path / "out" / "jax" / "presets" / "spyx.py").exists()
    capsys.readouterr()
    assert _generate(tmp_path, GOOD.replace(*change)) == 2
    err = capsys.readouterr().err
    assert err.startswith("specs/tanh_step.yaml: ")
    import re

    assert re.search(message, err), err


def test_a_class_mode_needs_the_class(tmp_path, capsys):
    """``when`` switches a class to another preset: the class must have one of its own."""
    text = GOOD.replace("function: tanh", "class: Tanh").replace(
        "forward: gt", "forward: graded\n    when: graded_spike"
    )
    assert _generate(tmp_path, text) == 2
    err = capsys.readouterr().err
    assert err == (
        "specs/tanh_step.yaml: presets: when: spyx.Tanh has no preset of its own to switch\n"
    )


def test_user_package_presets_import_their_own_families(tmp_path, monkeypatch):
    """A user's package generated from their specs: its presets use its own family modules."""
    assert _generate(tmp_path, GOOD) == 0
    shutil.move(tmp_path / "out", tmp_path / "userpkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    spyx = importlib.import_module("userpkg.jax.presets.spyx")
    x = jnp.linspace(-1.0, 1.0, 5)
    want = 4 / (jnp.exp(-x) + jnp.exp(x)) ** 2
    np.testing.assert_allclose(jax.grad(lambda v: spyx.tanh()(v).sum())(x), want, rtol=1e-6)
    assert (ROOT / "generated" / "jax" / "presets" / "spyx.py").exists()


def test_docs_list_every_preset_name_and_conversion():
    """The docs index has an "also known as" entry and each family page a conversion row for
    every library name of every preset (PyTorch libraries' too)."""
    index = (ROOT / "generated" / "docs" / "index.md").read_text()
    for name, spec in SPECS.items():
        page = (ROOT / "generated" / "docs" / f"{name}.md").read_text()
        for preset in spec.presets:
            for library in (preset.library, *preset.also):
                for alias in filter(None, (preset.class_name, preset.function)):
                    assert f"`{library}.{alias}`" in index, (name, library, alias)
                    assert f"`{library}.{alias}`" in page, (name, library, alias)
            shown = [preset.class_name, preset.function]
            if preset.when:  # a mode of a class: lava-dl's Spike(graded_spike=True)
                shown = [f"{preset.class_name}({preset.when}=True)"]
            names = " / ".join(f"`{n}`" for n in shown if n)
            assert f"| {names} |" in page, (name, names)
    assert "`snntorch.fast_sigmoid`" in index  # snnTorch's fast_sigmoid is the superspike family

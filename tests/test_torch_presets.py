"""The generated PyTorch presets without the libraries: each preset's gradient (by autograd) and
origin against the library's code formula as its spec quotes it (evaluated by mpmath: independent
of surrogen's family code and of the library), its forward convention, dtypes, per-neuron
parameters, and the library's API shape. The comparison with the installed libraries themselves
is test_torch_parity.py (make test-parity)."""

from __future__ import annotations

import importlib
import re

import mpmath
import numpy as np
import pytest
import sympy

from surrogen.generator.backends.torch_presets import STYLES
from tests.reference import SPECS, checked, lambdify_mpmath

torch = pytest.importorskip("torch")

CASES = [
    (library, name, i)
    for name, spec in sorted(SPECS.items())
    for i, preset in enumerate(spec.presets)
    for library in (preset.library, *preset.also)
    if library in STYLES
]
IDS = [f"{lib}.{SPECS[n].presets[i].label.partition('.')[2]}" for lib, n, i in CASES]
XS = np.concatenate([np.linspace(-4.0, 4.0, 161), [-40.0, -12.5, 12.5, 40.0, 1e3, -1e3]])
LIBRARY_THRESHOLD = 1.0  # lava-dl's threshold (a call argument, not a preset parameter)
GRADED_SCALE = 4.0  # lava-dl's scale: its graded spike (graded_spike=True) is voltage/scale


def module(library):
    return importlib.import_module(f"surrogen.torch.presets.{library}")


def threshold(library, params):
    """The threshold a membrane-style call subtracts (0 where the input is x itself)."""
    style = STYLES[library]
    if style.classes not in ("grad", "membrane"):
        return 0.0
    return params.get(style.membrane[1], LIBRARY_THRESHOLD)


def spike_fn(library, name, i, params):
    """The preset's spike function of its input in the library's API shape (x, or the raw
    membrane potential v = x + threshold for sinabs, lava-dl and Rockpool)."""
    preset, ours = SPECS[name].presets[i], module(library)
    style = STYLES[library]
    thr_name = style.membrane[1]
    if style.classes == "module":
        return getattr(ours, preset.class_name)(**params)
    if style.classes == "grad":
        fields = {k: v for k, v in params.items() if k != thr_name}
        obj = getattr(ours, preset.class_name)(**fields)
        return lambda v: obj.spike(v, params.get(thr_name, LIBRARY_THRESHOLD))
    if style.classes == "membrane":
        cls = getattr(ours, preset.class_name)
        mode = {preset.when: True, "scale": GRADED_SCALE} if preset.when else {}
        if thr_name in params:
            return lambda v: cls.apply(v, **params, **mode)
        return lambda v: cls.apply(v, LIBRARY_THRESHOLD, **params, **mode)
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


def moved(preset):
    return {k: (v + 1 if isinstance(v, int) else v * 1.25) for k, v in preset.params}


def grad_of(fn, v):
    v = v.detach().clone().requires_grad_(True)
    fn(v).sum().backward()
    return v.grad


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_preset_gradient_equals_the_quoted_library_code(case):
    library, name, i = case
    preset = SPECS[name].presets[i]
    for params in (dict(preset.params), moved(preset)):
        thr = threshold(library, params)
        fn = spike_fn(library, name, i, params)
        xs = away_from_kinks(name, i, params, XS)
        for dtype, rtol, atol in ((torch.float64, 1e-10, 1e-13), (torch.float32, 2e-5, 2e-6)):
            v = torch.tensor(xs, dtype=dtype) + thr
            x_eff = (v - thr).double().numpy()  # the x the preset sees, rounded like it
            want = quoted(name, i, "grad", x_eff, params)
            scale = np.nanmax(np.abs(want))
            got = grad_of(fn, v)
            assert got.dtype == dtype
            np.testing.assert_allclose(
                got.double().numpy(), want, rtol=rtol, atol=atol * scale, err_msg=str(params)
            )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_convention(case):
    library, name, i = case
    preset = SPECS[name].presets[i]
    params = dict(preset.params)
    fn = spike_fn(library, name, i, params)
    at_zero = {"ge": 1.0, "gt": 0.0, "half": 0.5, "graded": np.nan}[preset.forward]
    if STYLES[library].classes in ("grad", "membrane"):
        thr = threshold(library, params)
        v = torch.tensor([thr - 1.0, thr, thr + 0.5, -np.inf])
        want = [0.0, at_zero, 1.0, 0.0]
        if preset.forward == "graded":  # lava-dl's v*(v >= thr)/scale: NaN at -inf (0*inf)
            want = [0.0, thr / GRADED_SCALE, (thr + 0.5) / GRADED_SCALE, np.nan]
        if STYLES[library].count:
            v = torch.tensor([thr - 1.0, thr, 2.5 * thr, 4 * thr, -np.inf, np.inf])
            want = [0.0, 1.0, 2.0, 4.0, np.nan, 65536.0]  # Rockpool's 0 * floor(-inf) too
        np.testing.assert_array_equal(fn(v).numpy(), want)
        return
    x = torch.tensor([-1.0, -1e-45, -0.0, 0.0, 1e-45, 1.0, np.inf, -np.inf])
    want = [0.0, 0.0, at_zero, at_zero, 1.0, 1.0, 1.0, 0.0]
    np.testing.assert_array_equal(fn(x).numpy(), want)
    out = fn(torch.tensor([np.nan]))
    assert bool(torch.isnan(out)[0]) == (preset.forward == "half")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_kept_nan_gives_nan_and_per_neuron_parameters(case):
    library, name, i = case
    preset = SPECS[name].presets[i]
    params = dict(preset.params)
    thr = threshold(library, params)
    fn = spike_fn(library, name, i, params)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        v = torch.linspace(-2.0, 2.0, 9, dtype=dtype) + thr
        out = fn(v.requires_grad_(False))
        assert out.dtype == dtype, (dtype, out.dtype)
        g = grad_of(fn, v)
        assert g.dtype == dtype and torch.all(torch.isfinite(g)), g
    g = grad_of(fn, torch.tensor([np.nan, 0.5 + thr], dtype=torch.float64))
    assert torch.isnan(g[0]) and torch.isfinite(g[1])
    # Per-neuron parameters: a tensor of 3 values against x of shape (5, 3) equals three
    # columns computed with the scalar values (the threshold of a membrane call stays a number).
    tunable = [k for k, _ in preset.params if k not in dict(preset.ignored)]
    tunable = [k for k in tunable if not isinstance(params[k], int)]
    if not tunable:
        return
    if STYLES[library].classes in ("grad", "membrane"):
        tunable = [k for k in tunable if k != STYLES[library].membrane[1]]
        if not tunable or STYLES[library].classes == "grad":
            return  # sinabs' fields are dataclass floats, as in sinabs
    values = {k: [params[k], params[k] * 1.25, params[k] * 1.5 or 0.5] for k in tunable}
    per_neuron = {
        **params,
        **{k: torch.tensor(vs, dtype=torch.float64) for k, vs in values.items()},
    }
    v = torch.linspace(-2.0, 2.0, 15, dtype=torch.float64).reshape(5, 3) + thr
    got = grad_of(spike_fn(library, name, i, per_neuron), v)
    assert got.shape == v.shape
    for j in range(3):
        column = {**params, **{k: vs[j] for k, vs in values.items()}}
        want = grad_of(spike_fn(library, name, i, column), v[:, j])
        torch.testing.assert_close(got[:, j], want, rtol=1e-12, atol=1e-14)


def _cases(kind):
    return [c for c in CASES if STYLES[c[0]].classes == kind]


@pytest.mark.parametrize("case", _cases("module"), ids=lambda c: f"{c[0]}.{c[1]}.{c[2]}")
def test_spikingjelly_module_shape(case):
    library, name, i = case
    preset = SPECS[name].presets[i]
    ours = module(library)
    cls = getattr(ours, preset.class_name)
    obj = cls()
    assert isinstance(obj, torch.nn.Module)
    # An integer parameter (the square wave's number of terms) shows as an int.
    integer = {p.name for p in SPECS[name].params if p.domain == "integer"}
    whole = {
        k
        for fam, expr in preset.family
        if fam in integer
        for k in re.findall(r"[A-Za-z_]\w*", expr)
    }
    shown = [f"{k}={int(v) if k in whole else float(v)!r}" for k, v in preset.params]
    assert repr(obj) == f"{preset.class_name}(" + ", ".join([*shown, "spiking=True"]) + ")"
    x = torch.linspace(-2.0, 2.0, 9, dtype=torch.float64)
    fn = getattr(ours, preset.function) if preset.function else None
    if fn is not None:  # the lowercase autograd.Function-like functional: f.apply(x, *params)
        torch.testing.assert_close(fn.apply(x, *dict(preset.params).values()), obj(x))
        torch.testing.assert_close(grad_of(lambda v: fn.apply(v), x), grad_of(obj, x))
    smooth = cls(spiking=False)
    pm = checked(name).presets[i].model
    if pm.origin is None:
        with pytest.raises(NotImplementedError, match="no primitive function"):
            smooth(x)
        return
    xs = away_from_kinks(name, i, dict(preset.params), np.linspace(-3.0, 3.0, 61))
    xt = torch.tensor(xs, dtype=torch.float64)
    origin = smooth(xt)
    if preset.origin is not None:  # the library's own primitive function, as quoted
        want = quoted(name, i, "origin", xs, dict(preset.params))
        np.testing.assert_allclose(origin.numpy(), want, rtol=1e-10, atol=1e-12)
    # spiking=False: the origin's true gradient is the surrogate gradient
    torch.testing.assert_close(grad_of(smooth, xt), grad_of(obj, xt), rtol=1e-9, atol=1e-12)
    obj.set_spiking_mode(False)
    torch.testing.assert_close(obj(xt), origin)


def test_spikingjelly_heaviside_and_tensor_parameters_as_buffers():
    sj = module("spikingjelly")
    x = torch.tensor([-1.0, -0.0, 0.0, 2.0])
    assert sj.heaviside(x).tolist() == [0.0, 1.0, 1.0, 1.0]
    layer = sj.Sigmoid(alpha=torch.tensor([1.0, 4.0]))
    assert "alpha" in dict(layer.named_buffers())
    layer = sj.Sigmoid(alpha=torch.nn.Parameter(torch.tensor(4.0)))
    v = torch.tensor([0.3], requires_grad=True)
    layer(v).sum().backward()
    assert layer.alpha.grad is None  # the spike gives the parameters no gradient


@pytest.mark.parametrize(
    "case", _cases("autograd"), ids=lambda c: f"{c[0]}.{SPECS[c[1]].presets[c[2]].class_name}"
)
def test_autograd_class_and_function_shape(case):
    """snnTorch: ATan.apply(x, alpha) and atan(alpha)(x); Norse: HeaviTanh.apply(x, k) and
    heavi_tanh_fn(x, k): the same spikes and gradient."""
    library, name, i = case
    preset = SPECS[name].presets[i]
    ours = module(library)
    values = list(moved(preset).values())
    x = torch.linspace(-2.0, 2.0, 9, dtype=torch.float64)
    by_class = lambda v: getattr(ours, preset.class_name).apply(v, *values)  # noqa: E731
    if STYLES[library].functions == "factory":
        by_function = getattr(ours, preset.function)(*values)
    else:
        by_function = lambda v: getattr(ours, preset.function)(v, *values)  # noqa: E731
    torch.testing.assert_close(by_class(x), by_function(x))
    torch.testing.assert_close(grad_of(by_class, x), grad_of(by_function, x))


def test_norse_aliases_and_heaviside():
    norse = module("norse")
    assert norse.superspike_fn is norse.super_fn
    x = torch.tensor([-1.0, -0.0, 0.0, 2.0, np.nan], dtype=torch.float64)
    out = norse.heaviside(x)
    assert out.dtype == torch.float64 and out.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    # norse's keyword for heavi_*_fn is k
    torch.testing.assert_close(norse.heavi_tanh_fn(x, k=3.0), norse.heavi_tanh_fn(x, 3.0))


@pytest.mark.parametrize(
    "case", _cases("grad"), ids=lambda c: f"{c[0]}.{SPECS[c[1]].presets[c[2]].class_name}"
)
def test_sinabs_gradient_dataclass_shape(case):
    """sinabs: SingleExponential(grad_width, grad_scale)(v_mem, spike_threshold) is the
    gradient at x = v_mem - spike_threshold, a dataclass like sinabs'."""
    library, name, i = case
    preset = SPECS[name].presets[i]
    ours = module(library)
    params = moved(preset)
    thr = params.get("spike_threshold", 1.25)
    fields = {k: v for k, v in params.items() if k != "spike_threshold"}
    cls = getattr(ours, preset.class_name)
    obj = cls(**fields)
    assert obj == cls(**fields) and repr(obj).startswith(f"{preset.class_name}(")
    xs = away_from_kinks(name, i, {**params, "spike_threshold": thr}, XS[::4])
    v = torch.tensor(xs, dtype=torch.float64) + thr
    x_eff = (v - thr).numpy()
    want = quoted(name, i, "grad", x_eff, {**params, "spike_threshold": thr})
    np.testing.assert_allclose(obj(v, thr).numpy(), want, rtol=1e-10, atol=1e-13)


def test_sinabs_multi_gaussian_mu_other_than_zero_is_refused():
    sinabs = module("sinabs")
    assert sinabs.MultiGaussian(0.0, 0.5).sigma == 0.5  # sinabs' field order: mu first
    with pytest.raises(ValueError, match=r"MultiGaussian: mu must be 0\.0"):
        sinabs.MultiGaussian(mu=0.1)


def test_lava_dl_spike_shape():
    lava = module("lava_dl")
    v = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    out = lava.Spike.apply(v, 1.0, 1.0, 1.0, False, None, None)
    assert out.tolist() == [0.0, 1.0, 1.0]
    out.sum().backward()
    want = [0.5 * np.exp(-1.0), 0.5, 0.5 * np.exp(-1.0)]
    np.testing.assert_allclose(v.grad.numpy(), want, rtol=1e-14)
    # graded_spike=True: the forward voltage/scale above the threshold, the one-sided
    # exponential gradient scale_rho*exp(min(x, 0)/tau_rho) (lava-dl's; none from v/scale)
    w = torch.tensor([0.0, 1.0, 2.0, -np.inf, np.nan], dtype=torch.float32, requires_grad=True)
    out = lava.Spike.apply(w, 1.0, 0.5, 2.0, True, None, 4.0)
    assert out.dtype == torch.float32
    # -inf gives NaN, as lava-dl's (v >= threshold) * v: 0 * -inf
    np.testing.assert_array_equal(out.detach().numpy(), [0.0, 0.25, 0.5, np.nan, np.nan])
    out.sum().backward()
    want = [2.0 * np.exp(-1.0 / 0.5), 2.0, 2.0, 0.0, np.nan]
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-6)
    with pytest.raises(TypeError, match="needs scale"):
        lava.Spike.apply(v, 1.0, 1.0, 1.0, True)


def test_rockpool_counts_spikes_and_clamps():
    rockpool = module("rockpool")
    v = torch.tensor([0.2, 1.0, 2.9, 7.5, np.nan], requires_grad=True)
    out = rockpool.StepPWL.apply(v, 1.0, 0.5, 3.0)
    assert out[:4].tolist() == [0.0, 1.0, 2.0, 3.0] and torch.isnan(out[4])
    out[:4].sum().backward()
    assert v.grad[:4].tolist() == [0.0, 1.0, 1.0, 1.0]  # [v >= threshold - window] / threshold


def test_forward_mode_and_second_derivative():
    sj, snn = module("spikingjelly"), module("snntorch")
    x = torch.linspace(-2.0, 2.0, 9, dtype=torch.float64)
    layer = sj.Sigmoid()
    _, tangent = torch.func.jvp(layer, (x,), (torch.ones_like(x),))
    torch.testing.assert_close(tangent, grad_of(layer, x))
    torch.testing.assert_close(torch.func.vmap(torch.func.grad(layer))(x), grad_of(layer, x))
    # d/dx of the surrogate gradient, through create_graph: the family's own derivative
    v = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(snn.atan()(v).sum(), v, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), v)
    want = -2 * np.pi**2 * x * (1 + (np.pi * x) ** 2) ** -2  # d/dx of 1/(1 + (pi*x)**2)
    torch.testing.assert_close(gg, want)


def test_non_tensor_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        module("snntorch").atan()(0.5)

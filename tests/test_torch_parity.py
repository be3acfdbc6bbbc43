"""Parity with the real libraries: every PyTorch preset against the library it reproduces.

For each preset of a PyTorch library, the library's own surrogate and ours are called with the
same arguments at a few hundred points (a grid over the gradient's support, the tails, both sides
of every kink, never exactly on one), in float64 and float32, with the library's defaults and with
every parameter moved (x1.37, integers +1). Compared: the forward values (exactly), the gradient
by each side's autograd (sinabs: the gradient its dataclass returns), and SpikingJelly's primitive
function (``spiking=False``) where it has one.

The libraries, at the versions the presets were audited against, are installed by
``make test-parity`` (``--no-deps``: their dependencies would replace the CPU torch). Norse's,
Rockpool's and lava-dl's packages do not import without their (large) dependencies, so their
surrogate classes are read from the installed source files and executed with torch alone, as the
catalog's audit did. Without a library these tests skip, unless SURROGEN_PARITY=1.

``python -m tests.test_torch_parity`` prints the worst relative error of every preset.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import sympy

from tests.reference import SPECS, checked

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")

REQUIRED = os.environ.get("SURROGEN_PARITY") == "1"
# A module path, or (package, files, names): classes and functions read from installed files.
LIBRARY_MODULES: dict[str, str | tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "spikingjelly": "spikingjelly.activation_based.surrogate",
    "snntorch": "snntorch.surrogate",
    "sinabs": (
        "sinabs",
        ("activation/surrogate_gradient_fn.py", "activation/spike_generation.py"),
        ("*",),
    ),
    "norse": (
        "norse",
        ("torch/functional/heaviside.py", "torch/functional/superspike.py",
         "torch/functional/threshold.py"),
        ("*",),
    ),
    "rockpool": (
        "rockpool", ("nn/modules/torch/lif_torch.py",), ("StepPWL", "PeriodicExponential")
    ),
    "lava_dl": ("lava", ("lib/dl/slayer/spike/spike.py",), ("_spike_backward", "Spike")),
}  # fmt: skip
RTOL = {"float64": 1e-12, "float32": 1e-5}
ROUNDING = 8
LAVA_THRESHOLD = 1.25
LAVA_SCALE = 3.0  # lava-dl's scale: the graded spike is voltage/scale


def _from_files(package: str, files: tuple[str, ...], names: tuple[str, ...]) -> ModuleType:
    """The named top-level classes and functions of installed source files (all with "*"), run
    with only their imports of torch, numpy, math, dataclasses and typing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"No module named {package!r}")
    root = Path(next(iter(spec.submodule_search_locations)))
    module = ModuleType(f"_parity_{package}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    namespace = module.__dict__
    keep_imports = {"torch", "numpy", "math", "dataclasses", "typing", "torch.jit"}
    for file in files:
        with warnings.catch_warnings():  # their docstrings' invalid escapes
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse((root / file).read_text())
        body = []
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if imported in keep_imports and not getattr(node, "level", 0):
                    body.append(node)
            elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.Assign):
                target = node.targets[0] if isinstance(node, ast.Assign) else node
                name = getattr(target, "id", getattr(target, "name", ""))
                if "*" in names or name in names:
                    body.append(node)
        exec(compile(ast.Module(body=body, type_ignores=[]), str(root / file), "exec"), namespace)
    return module


def library_module(library: str) -> ModuleType:
    where = LIBRARY_MODULES[library]
    try:
        if isinstance(where, str):
            return importlib.import_module(where)
        return _from_files(*where)
    except ImportError as err:
        if REQUIRED:
            raise
        pytest.skip(f"{library} is not installed ({err}); make test-parity installs it")


def cases() -> list[tuple[str, str, int]]:
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
    return f"{library}.{preset.label.partition('.')[2]}"


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
    pm = checked(name).presets[i].model
    x = checked(name).model.x
    subs = dict(zip(pm.params, [params[k] for k, _ in pm.preset.params], strict=True))
    slope = float(sympy.diff(pm.x_map, x).subs(subs))
    shift = float(pm.x_map.subs({x: 0, **subs}))
    family = dict(zip(checked(name).model.params, [e.subs(subs) for e in pm.family], strict=True))
    kinks = [(float(b.subs(family)) - shift) / slope for b in checked(name).model.breakpoints]
    kinks = [k for k in kinks if np.isfinite(k)]
    width = max([abs(k) for k in kinks] + [1.0 / abs(slope), 1.0])
    grid = np.linspace(-6 * width, 6 * width, 241)
    tails = np.array([10.0, 30.0, 100.0, 1e3, 1e4]) * width
    near = [k + s * d * width for k in kinks for s in (-1, 1) for d in (1e-6, 1e-3, 1e-1)]
    xs = np.unique(np.concatenate([grid, tails, -tails, near]))
    far = [not np.any(np.isclose(v, kinks, rtol=0, atol=1e-9 * width)) for v in xs]
    return xs[np.array(far)] if kinks else xs


def functions(library: str, name: str, i: int, params: dict[str, float]) -> dict[str, Callable]:
    """The library's and surrogen's spike function of v (and what else they share)."""
    lib = library_module(library)
    ours = importlib.import_module(f"surrogen.torch.presets.{library}")
    preset = SPECS[name].presets[i]
    values = list(params.values())
    found: dict[str, Callable] = {}
    if library == "spikingjelly":
        found["theirs"] = getattr(lib, preset.class_name)(**params)
        found["ours"] = getattr(ours, preset.class_name)(**params)
        if preset.function:
            found["theirs_fn"] = lambda v: getattr(lib, preset.function).apply(v, *values)
            found["ours_fn"] = lambda v: getattr(ours, preset.function).apply(v, *values)
        if preset.origin is not None:
            found["theirs_origin"] = getattr(lib, preset.class_name)(**params, spiking=False)
            found["ours_origin"] = getattr(ours, preset.class_name)(**params, spiking=False)
    elif library == "snntorch":
        found["theirs"] = getattr(lib, preset.function)(**params)
        found["ours"] = getattr(ours, preset.function)(**params)
        found["theirs_fn"] = lambda v: getattr(lib, preset.class_name).apply(v, *values)
        found["ours_fn"] = lambda v: getattr(ours, preset.class_name).apply(v, *values)
    elif library == "norse":
        found["theirs"] = lambda v: getattr(lib, preset.function)(v, *values)
        found["ours"] = lambda v: getattr(ours, preset.function)(v, *values)
    elif library == "sinabs":
        thr = params.get("spike_threshold", 1.0)
        fields = {k: v for k, v in params.items() if k != "spike_threshold"}
        theirs_obj = getattr(lib, preset.class_name)(**fields)
        ours_obj = getattr(ours, preset.class_name)(**fields)
        found["theirs"] = lambda v: lib.SingleSpike.apply(v, thr, theirs_obj)
        found["ours"] = lambda v: ours_obj.spike(v, thr)
        found["theirs_grad"] = lambda v: theirs_obj(v, thr)
        found["ours_grad"] = lambda v: ours_obj(v, thr)
    elif library == "lava_dl":
        tau, scale = values
        graded = preset.when == "graded_spike"  # then the forward is voltage/LAVA_SCALE above
        s = LAVA_SCALE if graded else 1
        found["theirs"] = lambda v: lib.Spike.apply(v, LAVA_THRESHOLD, tau, scale, graded, 0, s)
        found["ours"] = lambda v: ours.Spike.apply(v, LAVA_THRESHOLD, tau, scale, graded, 0, s)
    elif library == "rockpool":
        thr, window = params["threshold"], params["window"]
        # Tensors, as Rockpool's defaults (it calls .float() on one; PeriodicExponential's
        # backward returns a threshold gradient that a number cannot take), in float64: a
        # float32 threshold would move the comparison v >= threshold.
        theirs_args = tuple(torch.tensor(a, dtype=torch.float64) for a in (thr, window, 2.0**16))
        cls = getattr(lib, preset.class_name)
        found["theirs"] = lambda v: cls.apply(v, *theirs_args)
        found["ours"] = lambda v: getattr(ours, preset.class_name).apply(v, thr, window)
    return found


def shift(library: str, params: dict[str, float]) -> float:
    """v = x + shift: the raw membrane potential the library takes."""
    return {
        "sinabs": params.get("spike_threshold", 1.0),
        "lava_dl": LAVA_THRESHOLD,
        "rockpool": params.get("threshold", 0.0),
    }.get(library, 0.0)


def _grad(fn: Callable, v: torch.Tensor) -> torch.Tensor:
    v = v.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(v).sum(), v)
    return g


def _slack(v: torch.Tensor, x: np.ndarray, fn: Callable, dtype: str) -> np.ndarray:
    """ROUNDING * eps * |x * f'(x)|, f' = surrogen's derivative of the compared gradient."""
    w = v.detach().to(torch.float64).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(w).sum(), w, create_graph=True)
    second = torch.autograd.grad(g.sum(), w, allow_unused=True)[0]
    second = np.zeros_like(x) if second is None else np.nan_to_num(second.detach().numpy())
    return ROUNDING * float(np.finfo(dtype).eps) * np.abs(x * second)


def _error(got, want, slack, params, what, rtol) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert np.all(np.isfinite(got) == np.isfinite(want)), f"{what} {params}: NaN/inf differ"
    finite = np.isfinite(want)
    scale = np.max(np.abs(want[finite])) if finite.any() else 1.0
    excess = np.maximum(np.abs(got - want) - slack, 0.0)[finite]
    err = excess / (np.abs(want[finite]) + scale)
    worst = float(err.max()) if err.size else 0.0
    assert worst <= rtol, f"{what} {params}: relative error {worst:.3g} > {rtol}"
    return worst


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


def compare(library: str, name: str, i: int, dtype: str) -> dict[str, float]:
    """Worst relative difference (to the gradient's peak) of grad and origin over both parameter
    sets; asserts that the forward values are identical."""
    worst = {"grad": 0.0, "origin": 0.0}
    tdtype = getattr(torch, dtype)
    rtol = tolerance(library, SPECS[name].presets[i].class_name, dtype)
    for params in param_sets(name, i):
        fns = functions(library, name, i, params)
        xs = points(name, i, params)
        v = torch.tensor(xs, dtype=torch.float64).to(tdtype) + shift(library, params)
        x = _np(v) - shift(library, params)
        pairs = [("theirs", "ours")] + [("theirs_fn", "ours_fn")] * ("theirs_fn" in fns)
        for theirs, ours in pairs:
            a, b = fns[theirs](v), fns[ours](v)
            assert b.dtype == tdtype, b.dtype  # surrogen keeps x's dtype (snnTorch: float32)
            np.testing.assert_array_equal(_np(b), _np(a), err_msg=f"forward {params}")
            ga, gb = _grad(fns[theirs], v), _grad(fns[ours], v)
            if (library, SPECS[name].presets[i].class_name) in LIBRARY_NAN:
                bad = torch.isnan(ga) & ~torch.isnan(v)  # the library's overflow, not ours
                assert torch.all(torch.isfinite(gb[bad]))
                ga = torch.where(bad, gb, ga)
            slack = _slack(v, x, fns[ours], dtype)
            worst["grad"] = max(
                worst["grad"], _error(_np(gb), _np(ga), slack, params, "grad", rtol)
            )
        if "theirs_grad" in fns:  # sinabs: the gradient its dataclass returns
            ga, gb = fns["theirs_grad"](v), fns["ours_grad"](v)
            slack = _slack(v, x, fns["ours"], dtype)
            worst["grad"] = max(
                worst["grad"], _error(_np(gb), _np(ga), slack, params, "grad", rtol)
            )
        if "theirs_origin" in fns:
            oa, ob = fns["theirs_origin"](v), fns["ours_origin"](v)
            slack = ROUNDING * float(np.finfo(dtype).eps) * np.abs(x * _np(_grad(fns["ours"], v)))
            error = _error(_np(ob), _np(oa), slack, params, "origin", rtol)
            worst["origin"] = max(worst["origin"], error)
    return worst


# Presets whose library computes in float32 whatever the input: a constant (norse's
# torch.as_tensor(np.pi).sqrt(), sinabs' torch.sqrt(2*torch.tensor(math.pi))) or the output
# (``.float()``: sinabs' Heaviside, snnTorch's forward and so the incoming gradient, Rockpool's
# spike count). Their float64 comparison has float32's tolerance; test_torch_presets.py holds
# surrogen's float64 gradients to the exact formulas at 1e-10.
LIBRARY_FLOAT32 = {
    ("norse", "HeaviErfc"),
    ("sinabs", "Gaussian"),
    ("sinabs", "MultiGaussian"),
    ("sinabs", "Heaviside"),
    ("snntorch", "Triangular"),
    ("rockpool", "StepPWL"),
    ("rockpool", "PeriodicExponential"),
}
# snnTorch's Sigmoid overflows to inf/inf = NaN in float32 below x = -3.6 (the spec's note);
# surrogen's gradient is finite there (checked), and compared where snnTorch's is a number.
LIBRARY_NAN = {("snntorch", "Sigmoid")}


def tolerance(library: str, class_name: str, dtype: str) -> float:
    if (library, class_name) in LIBRARY_FLOAT32:
        return max(RTOL[dtype], RTOL["float32"])
    return RTOL[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[_label(c) for c in CASES])
def test_preset_matches_the_library(case, dtype):
    compare(*case, dtype)


@pytest.mark.parametrize("library", ["spikingjelly", "snntorch", "norse"])
def test_every_library_name_is_provided(library):
    """Every surrogate the library exports has a preset of that name, or is listed as missing."""
    from surrogen.generator.backends.torch_presets import STYLES

    lib = library_module(library)
    ours = importlib.import_module(f"surrogen.torch.presets.{library}")
    missing = {name for name, _ in STYLES[library].missing}
    if library == "spikingjelly":
        exported = {
            n
            for n, obj in vars(lib).items()
            if isinstance(obj, type)
            and obj.__module__ == lib.__name__
            and (
                issubclass(obj, lib.SurrogateFunctionBase)
                or issubclass(obj, torch.autograd.Function)
            )
            and obj is not lib.SurrogateFunctionBase
        } | {"heaviside"}
        exported -= {"poisson_pass"}  # PoissonPass's Function
    elif library == "snntorch":
        exported = {
            "straight_through_estimator", "StraightThroughEstimator", "triangular", "Triangular",
            "fast_sigmoid", "FastSigmoid", "atan", "ATan", "heaviside", "Heaviside", "sigmoid",
            "Sigmoid", "spike_rate_escape", "SpikeRateEscape", "SSO", "LSO", "SFS",
            "custom_surrogate",
        }  # fmt: skip
        assert all(hasattr(lib, n) for n in exported)
    else:
        exported = {
            "heaviside", "super_fn", "superspike_fn", "heavi_erfc_fn", "heavi_tanh_fn",
            "heavi_circ_fn", "triangle_fn", "logistic_fn", "circ_dist_fn", "threshold",
            "SuperSpike", "HeaviErfc", "HeaviTanh", "HeaviCirc", "Triangle",
        }  # fmt: skip
        assert all(hasattr(lib, n) for n in exported)
    absent = sorted(n for n in exported if not hasattr(ours, n))
    assert set(absent) == missing, absent


def test_switching_from_spikingjelly_is_an_import_change():
    """A SpikingJelly user's script runs unchanged on surrogen's module, with the same numbers."""
    theirs = library_module("spikingjelly")
    import surrogen.torch.presets.spikingjelly as ours

    def script(surrogate):
        torch.manual_seed(0)
        w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
        fns = [surrogate.Sigmoid(alpha=4.0), surrogate.ATan(), surrogate.PiecewiseQuadratic()]
        v = torch.tanh(torch.arange(1.0, 5.0, dtype=torch.float64) @ w) - 0.2
        loss = sum((f(v) * v).sum() for f in fns) + surrogate.sigmoid.apply(v, 2.0).sum()
        loss.backward()
        return loss.detach(), w.grad

    for a, b in zip(script(theirs), script(ours), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-14)


if __name__ == "__main__":
    for case in CASES:
        for dtype in ("float64", "float32"):
            r = compare(*case, dtype)
            print(f"{_label(case):40s} {dtype}  grad {r['grad']:.1e}  origin {r['origin']:.1e}")

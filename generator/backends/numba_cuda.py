"""The Numba CUDA backend: typed device functions, elementwise kernels per storage dtype, and host
functions that take NumPy or device arrays.

Generated modules import ``surrogen.runtime.numba_cuda`` (the launcher, the simulator's math).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import CheckedModel
from ..printers import Printed, finite_guarded, guarded, print_cse
from .base import ALL_SPECS, ApiDoc, Backend, Output, as_tuple, package_index, param_checks, wrap
from .docstrings import GRADIENT_ONLY, formulas
from .numba import NumbaPrinter

# (storage dtype, arithmetic scalar): float16 data is computed in float32.
STORAGE = (("f16", "f32"), ("f32", "f32"), ("f64", "f64"))


@dataclass(frozen=True)
class NumbaCudaView:
    name: str
    module_doc: str
    call: str  # "x, alpha"
    signature: str  # "x, alpha=4.0"
    bwd_signature: str  # "x, g, alpha=4.0"
    params: tuple[str, ...]
    params_tuple: str  # "(alpha,)" / "()"
    defaults: str
    lif_signature: str  # "config=None, alpha=4.0"
    device: dict[str, dict[str, Printed]]  # scalar -> {"origin": ..., "grad": ...}
    storage: tuple[tuple[str, str], ...]
    has_origin: bool  # False: a gradient-only family (no origin functions)
    functions: tuple[str, ...]  # the elementwise functions: ("origin", "grad") or ("grad",)
    kernel_functions: tuple[str, ...]  # every host function's kernels: spike, ..., spike_bwd
    checks: tuple[str, ...]  # host-side checks of bounded parameters
    all_names: tuple[str, ...]
    device_docs: dict[str, str]  # first line of the device functions' docstrings
    array_kernels: dict[str, str]  # host function -> its array-parameter kernels, or "None"
    docs: dict[str, str]  # host function -> docstring


def view(checked: CheckedModel) -> NumbaCudaView:
    model, spec = checked.model, checked.model.spec
    params = tuple(p.name for p in spec.params)
    exprs = {"grad": checked.emitted_grad}
    if checked.emitted_origin is not None:
        exprs["origin"] = checked.emitted_origin
    device = {
        scalar: {
            what: print_cse(
                guarded(finite_guarded(e, model.x), checked.guard),
                NumbaPrinter(f"_{scalar}({{}})", dw_suffix=f"_{scalar}"),
                model.x,
            )
            for what, e in exprs.items()
        }
        for scalar in ("f32", "f64")
    }
    f = formulas(checked)
    args = ", ".join(["x", *params])
    origin_device = "``origin_f32``, ``origin_f64``, " * bool(f.origin)
    origin_host = "``origin(x, ...)``, " * bool(f.origin)
    origin_nan = "``origin``, " * bool(f.origin)
    invalid = (
        " A parameter outside its domain raises ValueError in the host functions where it is a"
        " Python number or a NumPy array, and gives NaN in the device functions and for device"
        " arrays."
        if any(p.bounded for p in spec.params)
        else ""
    )
    usage = (
        f"Device functions for your own kernels: {origin_device}``grad_f32``,"
        f" ``grad_f64`` (arguments ``{args}`` as scalars of that type). Host functions"
        f" ``spike(x)``, {origin_host}``grad(x, ...)``, ``spike_bwd(x, g, ...)`` take"
        " NumPy arrays (result: NumPy) or device arrays (anything with"
        " ``__cuda_array_interface__``: Numba, CuPy, PyTorch; result: a Numba device array) of"
        " float16, float32 or float64, with any strides; float16 is computed in float32 and"
        " rounded back. Parameters are scalars or arrays (host or device) that broadcast against"
        " x (defaults in ``DEFAULTS``). ``out=`` (a device or NumPy array of the broadcast shape"
        " and x's dtype, any strides) is filled in place instead of allocating a new result."
        " Forward: ``spike(x) = 1 if x >= 0 else 0`` (1 at x = -0.0, 0 for NaN and negative"
        f" subnormals); NaN in x gives NaN from {origin_nan}``grad`` and ``spike_bwd``.{invalid}"
    )
    formula = (
        f"    origin(x) = {f.origin}\n    grad(x)   = {f.grad}\n\n"
        if f.origin
        else f"    grad(x) = {f.grad}\n\n{wrap(GRADIENT_ONLY, width=92)}\n\n"
    )
    module_doc = (
        f"{spec.title} surrogate for Numba CUDA."
        f"\n\n{wrap(spec.summary, width=92)}\n\n"
        f"{formula}"
        f"{wrap(usage, width=92)}\n\n"
        f"Formulas, checked sources and plots: docs/{spec.name}.md."
    )
    shape = (
        "The broadcast shape of x, g and the parameters, in x's dtype; a NumPy array for a NumPy"
        " x, a device array for a device x; ``out`` itself if given."
    )
    params_ = spec.params
    arg_doc = (
        "x: a NumPy or device array (any strides) of float16, float32 or float64."
        + "".join(f" {p.name}: default ``{p.default!r}``, a scalar or an array." for p in params_)
        + " out: a device or NumPy array (any strides) to fill, or None."
        " threads_per_block: the CUDA block size."
    )
    errors = (
        "Raises:\n  TypeError: x's dtype is not float16, float32 or float64, or out is not an"
        " array.\n  ValueError: the shapes do not broadcast, or out has the wrong shape or"
        " dtype."
    )

    def host_doc(summary: str) -> str:
        return (
            f"{summary}\n\n{wrap('Args: ' + arg_doc, width=92)}\n\n"
            f"Returns:\n{wrap(shape, indent='  ', width=92)}\n\n{errors}"
        )

    array_kernels = {
        fn: f'_KERNELS["{fn}_array"]' if params else "None"
        for fn in ("origin", "grad", "spike_bwd")[0 if f.origin else 1 :]
    }
    return NumbaCudaView(
        name=spec.name,
        module_doc=module_doc,
        call=args,
        signature=", ".join(["x", *(f"{p.name}={p.default!r}" for p in spec.params)]),
        bwd_signature=", ".join(["x", "g", *(f"{p.name}={p.default!r}" for p in spec.params)]),
        params=params,
        params_tuple=as_tuple(list(params)) if params else "()",
        defaults="{" + ", ".join(f'"{p.name}": {p.default!r}' for p in spec.params) + "}",
        lif_signature=", ".join(["config=None", *(f"{p.name}={p.default!r}" for p in spec.params)]),
        device=device,
        storage=STORAGE,
        has_origin=bool(f.origin),
        functions=tuple(exprs)[::-1],
        kernel_functions=("spike", *tuple(exprs)[::-1], "spike_bwd"),
        checks=param_checks(spec, "_check_param"),
        all_names=tuple(
            sorted(
                ["DEFAULTS", "fused_lif", "grad", "grad_f32", "grad_f64", "spike", "spike_bwd"]
                + ["origin", "origin_f32", "origin_f64"] * bool(f.origin)
            )
        ),
        device_docs={
            "origin": "The smooth origin",
            "grad": "The surrogate gradient" + " d origin / dx" * bool(f.origin),
        },
        array_kernels=array_kernels,
        docs={
            "spike": host_doc(
                "Heaviside step, elementwise: 1 if x >= 0 else 0 (1 at x = -0.0; 0 for NaN and"
                " for negative subnormals)."
            ),
            "origin": host_doc("The smooth origin, elementwise."),
            "grad": host_doc(
                "The surrogate gradient" + " d origin / dx" * bool(f.origin) + ", elementwise."
            ),
            "spike_bwd": host_doc(
                "Backward of spike: g * grad(x, ...), elementwise; g broadcasts like x."
            ),
        },
    )


class NumbaCudaBackend(Backend):
    name = "numba_cuda"
    title = "Numba CUDA"
    requires = ("numba",)
    reserved = frozenset(
        {"cuda", "g", "out", "threads_per_block", "origin", "grad", "spike", "spike_bwd"}
        | {"origin_f32", "origin_f64", "grad_f32", "grad_f64", "DEFAULTS", "config", "fused_lif"}
    )

    def printer_reserved(self) -> frozenset[str]:
        return NumbaPrinter.reserved_names

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        outs = [
            Output(
                f"numba_cuda/{c.model.spec.name}.py",
                c.model.spec.path,
                "numba_cuda/SURROGATE.py.jinja",
                {"v": view(c)},
            )
            for c in models
        ]
        index = package_index(
            "Numba CUDA surrogate kernels",
            "from surrogen.numba_cuda import sigmoid  # NumPy or device arrays in",
            models,
            with_classes=False,
        )
        outs.append(Output("numba_cuda/__init__.py", ALL_SPECS, "_shared/__init__.py.jinja", index))
        return outs

    def api_doc(self, checked: CheckedModel) -> ApiDoc:
        spec = checked.model.spec
        kw = "".join(f", {p.name}={p.default!r}" for p in spec.params)
        example = (
            "import numpy as np\n\n"
            f"from surrogen.numba_cuda import {spec.name}\n\n"
            "x = np.linspace(-2.0, 2.0, 5, dtype=np.float32)  # x = v - v_threshold\n"
            f"g = {spec.name}.spike_bwd(x, np.ones_like(x){kw})  # NumPy in, NumPy out\n"
            "print(g)\n"
        )
        note = (
            "Without a GPU, run with `NUMBA_ENABLE_CUDASIM=1` (Numba's simulator). Device arrays"
            " in give device arrays out; `out=` fills a preallocated one."
        )
        return ApiDoc(self.title, f"surrogen.numba_cuda.{spec.name}", "cuda", example, note)

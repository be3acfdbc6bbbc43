"""The Numba CUDA backend: typed device functions, elementwise kernels per storage dtype, and host
functions that take NumPy or device arrays.

Generated modules import ``surrogen.runtime.numba_cuda`` (the launcher, the simulator's math).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import CheckedModel
from ..printers import Printed, guarded, print_cse
from .base import ALL_SPECS, Backend, Output, as_tuple, package_index, param_checks, wrap
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
    device: dict[str, dict[str, Printed]]  # scalar -> {"origin": ..., "grad": ...}
    storage: tuple[tuple[str, str], ...]
    has_origin: bool  # False: a gradient-only family (no origin functions)
    checks: tuple[str, ...]  # host-side checks of bounded parameters
    all_names: tuple[str, ...]


def view(checked: CheckedModel) -> NumbaCudaView:
    model, spec = checked.model, checked.model.spec
    params = tuple(p.name for p in spec.params)
    exprs = {"grad": checked.emitted_grad}
    if checked.emitted_origin is not None:
        exprs["origin"] = checked.emitted_origin
    device = {
        scalar: {
            what: print_cse(guarded(e, checked.guard), NumbaPrinter(f"_{scalar}({{}})"), model.x)
            for what, e in exprs.items()
        }
        for scalar in ("f32", "f64")
    }
    f = formulas(checked)
    args = ", ".join(["x", *params])
    origin_device = "``origin_f32``, ``origin_f64``, " * bool(f.origin)
    origin_host = "``origin(x, ...)``, " * bool(f.origin)
    invalid = (
        " A parameter outside its domain raises ValueError in the host functions and gives NaN in"
        " the device functions."
        if any(p.bounded for p in spec.params)
        else ""
    )
    usage = (
        f"Device functions for your own kernels: {origin_device}``grad_f32``,"
        f" ``grad_f64`` (arguments ``{args}`` as scalars of that type). Host functions"
        f" ``spike(x)``, {origin_host}``grad(x, ...)``, ``spike_bwd(x, g, ...)`` take"
        " NumPy arrays (result: NumPy) or device arrays (anything with"
        " ``__cuda_array_interface__``: Numba, CuPy, PyTorch; result: a Numba device array) of"
        " float16, float32 or float64; float16 is computed in float32 and rounded back."
        " Parameters are scalars (defaults in ``DEFAULTS``). ``out=`` (a device array like x) is"
        " filled in place instead of allocating a new result. Forward: ``spike(x) = 1 if x >= 0"
        f" else 0`` (1 at x = -0.0, 0 for NaN).{invalid}"
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
    return NumbaCudaView(
        name=spec.name,
        module_doc=module_doc,
        call=args,
        signature=", ".join(["x", *(f"{p.name}={p.default!r}" for p in spec.params)]),
        bwd_signature=", ".join(["x", "g", *(f"{p.name}={p.default!r}" for p in spec.params)]),
        params=params,
        params_tuple=as_tuple(list(params)) if params else "()",
        defaults="{" + ", ".join(f'"{p.name}": {p.default!r}' for p in spec.params) + "}",
        device=device,
        storage=STORAGE,
        has_origin=bool(f.origin),
        checks=param_checks(spec, "_check_param"),
        all_names=tuple(
            sorted(
                ["DEFAULTS", "grad", "grad_f32", "grad_f64", "spike", "spike_bwd"]
                + ["origin", "origin_f32", "origin_f64"] * bool(f.origin)
            )
        ),
    )


class NumbaCudaBackend(Backend):
    name = "numba_cuda"
    requires = ("numba",)
    reserved = frozenset(
        {"cuda", "g", "out", "threads_per_block", "origin", "grad", "spike", "spike_bwd"}
        | {"origin_f32", "origin_f64", "grad_f32", "grad_f64", "DEFAULTS"}
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

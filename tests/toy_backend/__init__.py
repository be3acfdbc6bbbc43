"""A small extra backend, registered by a test: plain NumPy functions from SymPy's NumPyPrinter.

It proves the backend seam: nothing in ``generator/`` is edited to add it; it is this module, its
one template and one entry in the tuple of backends handed to the generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sympy.printing.numpy import NumPyPrinter

from surrogen.generator.backends.base import Backend, Output
from surrogen.generator.checks import CheckedModel
from surrogen.generator.printers import print_cse


class NumpyBackend(Backend):
    name = "numpy"
    template_root = Path(__file__).resolve().parent / "templates"
    reserved = frozenset({"numpy", "grad"})

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        outs = []
        for c in models:
            spec = c.model.spec
            context = {
                "name": spec.name,
                "args": ", ".join(["x", *(f"{p.name}={p.default!r}" for p in spec.params)]),
                "grad": print_cse(c.emitted_grad, NumPyPrinter(), c.model.x),
            }
            outs.append(
                Output(f"numpy/{spec.name}.py", spec.path, "numpy/SURROGATE.py.jinja", context)
            )
        outs.append(Output("numpy/__init__.py", "specs/*.yaml", "numpy/__init__.py.jinja", {}))
        return outs

"""The registry: the one list of backends. Adding a backend is one module and one line here."""

from __future__ import annotations

from collections.abc import Iterable

from ..symbolic import CONSTANTS, FUNCTIONS
from .base import Backend
from .docs import DocsBackend
from .jax import JaxBackend
from .jax_presets import JaxPresetsBackend
from .numba_cpu import NumbaCpuBackend
from .numba_cuda import NumbaCudaBackend
from .package import PackageBackend
from .torch import TorchBackend
from .torch_presets import TorchPresetsBackend

BACKENDS: tuple[Backend, ...] = (
    PackageBackend(),
    JaxBackend(),
    JaxPresetsBackend(),
    NumbaCpuBackend(),
    NumbaCudaBackend(),
    TorchBackend(),
    TorchPresetsBackend(),
    DocsBackend(),
)


def reserved_names(backends: Iterable[Backend] = BACKENDS) -> dict[str, str]:
    """Every identifier a spec parameter must not take, with the reason shown to the user."""
    names = {n: "a function of the spec language" for n in FUNCTIONS}
    names |= {n: "a constant of the spec language" for n in CONSTANTS}
    for backend in backends:
        for name, why in backend.reserved_names().items():
            names.setdefault(name, why)
    return names

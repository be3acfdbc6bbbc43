"""The output package's own ``__init__.py``: the spec names, and no backend import."""

from __future__ import annotations

from collections.abc import Sequence

from ..checks import CheckedModel
from .base import ALL_SPECS, Backend, Output


class PackageBackend(Backend):
    name = "package"

    def outputs(self, models: Sequence[CheckedModel]) -> list[Output]:
        names = [c.model.spec.name for c in models]
        return [Output("__init__.py", ALL_SPECS, "package/__init__.py.jinja", {"names": names})]

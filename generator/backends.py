"""The one list of backends. A backend is a template folder, a printer and a few settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    name: str  # also the folder templates/<name>/
    subdir: str  # where its files go under generated/ ("" = the generated/ package itself)
    printer: str | None  # key into printers.PRINTERS
    comment: str = "# {}"  # how the DO NOT EDIT header is written in this backend's files
    # Literal spelling per scalar type, for printers that type their literals (numba).
    literals: tuple[tuple[str, str], ...] = ()
    piecewise: str = "ternary"  # how the numba printer writes Piecewise ("select": branch-free)
    plots: bool = False  # also write img/<name>.png (docs)

    def literal(self, scalar: str) -> str:
        return dict(self.literals)[scalar]


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("package", "", printer=None),
        Backend("jax", "jax", printer="jax"),
        # One ufunc body serves the float32 and float64 loops, so literals take x's type.
        Backend(
            "numba_cpu",
            "numba_cpu",
            printer="numba",
            literals=(("like", "like(x, {})"),),
            piecewise="select",
        ),
        Backend(
            "numba_cuda",
            "numba_cuda",
            printer="numba",
            literals=(("f32", "f32({})"), ("f64", "f64({})")),
        ),
        Backend("docs", "docs", printer=None, comment="<!-- {} -->", plots=True),
    )
}

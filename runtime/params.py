"""Host-side validation of surrogate parameters declared with an integer domain or bounds.

The generated kernels return NaN for such a parameter outside its domain (a kernel cannot raise);
where the value is on the host (a Python number or a NumPy array), the generated host code calls
``check_param`` first, so that the mistake is an error that names the parameter instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_param"]


def check_param(
    surrogate: str,
    name: str,
    value: Any,
    *,
    integer: bool = False,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> None:
    """Raise ValueError unless every element of ``value`` satisfies the declared constraints.

    Args:
      surrogate: the surrogate's name, for the message.
      name: the parameter's name, for the message.
      value: a Python number or a NumPy array (per-neuron values); anything else is not checked.
      integer: every value must be a whole number.
      min, max: inclusive bounds; above, below: exclusive bounds (None: no bound).

    Raises:
      ValueError: naming the parameter, the rule and the first offending value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.ndarray | np.generic):
        return
    a = np.asarray(value, dtype=np.float64)
    rules = [
        ("an integer", integer, lambda v: np.isfinite(v) & (v == np.floor(v))),
        (f">= {min!r}", min is not None, lambda v: v >= min),
        (f"<= {max!r}", max is not None, lambda v: v <= max),
        (f"> {above!r}", above is not None, lambda v: v > above),
        (f"< {below!r}", below is not None, lambda v: v < below),
    ]
    for rule, applies, holds in rules:
        if not applies:
            continue
        with np.errstate(invalid="ignore"):
            ok = holds(a)
        if not np.all(ok):
            bad = float(a[~ok].flat[0]) if a.ndim else float(a)
            raise ValueError(f"{surrogate}: {name} must be {rule}, got {bad!r}")

"""Run every generated Numba CPU function body as Python, for coverage (``make coverage``).

Compiled ufunc loops are machine code that coverage.py cannot see, and even under
NUMBA_DISABLE_JIT=1 ``numba.vectorize`` compiles its loops. Under NUMBA_DISABLE_JIT=1 ``njit``
returns the Python function, so here every body (``_origin``/``_grad`` and the ufuncs' own
``spike``, ``origin``, ``grad``, ``spike_bwd``) is called per element as Python, where coverage
traces it, at the defaults in float32 and float64 on both sides of the breakpoints, and compared
with the compiled ufunc (which NUMBA_DISABLE_JIT does not affect) to 1e-6 relative.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np


def main() -> int:
    if os.environ.get("NUMBA_DISABLE_JIT") != "1":
        print("run with NUMBA_DISABLE_JIT=1 (the point is to trace the bodies as Python)")
        return 2
    from surrogen import NAMES

    # numba.vectorize compiles even under NUMBA_DISABLE_JIT=1, and then cannot type the bodies it
    # calls (plain Python functions there); it loads them from Numba's cache instead. Compile
    # every module once with the JIT on, so that the cache is warm.
    warm = "import importlib; from surrogen import NAMES\n"
    warm += "for n in NAMES: importlib.import_module(f'surrogen.numba_cpu.{n}')"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    subprocess.run([sys.executable, "-c", warm], env=env, check=True)
    xs = np.concatenate([np.linspace(-3.0, 3.0, 61), [-0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0]])
    for name in NAMES:
        m = importlib.import_module(f"surrogen.numba_cpu.{name}")
        for dtype in (np.float32, np.float64):
            x = xs.astype(dtype)
            ps = [dtype(v) for v in m.DEFAULTS.values()]
            g = np.full_like(x, 0.5)
            calls = [
                (m.spike, (x,), ()),
                (m.grad, (x, *ps), (m._grad,)),
                (m.spike_bwd, (x, g, *ps), ()),
            ]
            if hasattr(m, "origin"):  # a gradient-only family has none
                calls.append((m.origin, (x, *ps), (m._origin,)))
            for ufunc, args, bodies in calls:
                compiled = ufunc(*args)
                rows = np.broadcast_arrays(*args)
                for fn in (ufunc._dispatcher.py_func, *bodies):
                    py = np.array([fn(*(r[i] for r in rows)) for i in range(len(x))], np.float64)
                    np.testing.assert_allclose(py, compiled, rtol=1e-6, atol=1e-30, err_msg=name)
    print(f"ran the Numba CPU bodies of {len(NAMES)} specs as Python")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""XLA fuses each pass of every generated JAX surrogate into one loop: the forward spike, the
backward ``g * grad(x)`` (vjp) and ``jit(grad)`` each compile to a single fused kernel on the CPU,
so the surrogate costs one read of its inputs and one write of its output per pass."""

import importlib
import re

import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy


def _kernels(fn, *args):
    """Top-level computations of the optimised HLO that touch memory: fusions and any elementwise
    instruction XLA left unfused in the entry computation."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    entry = text[text.index("ENTRY") :]
    fusions = re.findall(r"kind=k(\w+)", text)
    unfused = re.findall(r"= \w+\[[^\]]*\] (exponential|multiply|add|select|divide)\(", entry)
    return fusions, unfused


def test_one_fused_loop_per_pass(name):
    m = importlib.import_module(f"surrogen.jax.{name}")
    x = jnp.linspace(-3, 3, 1 << 12, dtype=jnp.float32)
    passes = {
        "forward": (m.spike, (x,)),
        "vjp": (lambda v, g: jax.vjp(m.spike, v)[1](g)[0], (x, x)),
        "grad": (jax.grad(lambda v: m.spike(v).sum()), (x,)),
    }
    for label, (fn, args) in passes.items():
        fusions, unfused = _kernels(fn, *args)
        assert len(fusions) <= 1 and not unfused, f"{name} {label}: {fusions} {unfused}"

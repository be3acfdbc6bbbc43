"""A braintools user's training step, run with braintools and with surrogen by changing one import.

    python examples/switch_from_braintools.py          # needs braintools (pip install braintools)

The script below is written against ``braintools.surrogate``; ``run(surrogate)`` runs it with the
module it is given. It prints the loss and the largest difference of every gradient between the two.
"""

import jax
import jax.numpy as jnp
import numpy as np


def run(surrogate):
    """A two-layer LIF network over 20 steps, with three braintools surrogates."""
    key = jax.random.PRNGKey(0)
    w1 = jax.random.normal(key, (8, 16)) * 0.5
    w2 = jax.random.normal(jax.random.PRNGKey(1), (16, 4)) * 0.5
    inputs = jax.random.uniform(jax.random.PRNGKey(2), (20, 8))
    spike1 = surrogate.Sigmoid(alpha=4.0)
    spike2 = surrogate.QPseudoSpike(alpha=3.0)

    def loss(params):
        w1, w2 = params

        def step(state, x_t):
            v1, v2 = state
            v1 = 0.9 * v1 + x_t @ w1
            s1 = spike1(v1 - 1.0)
            v2 = 0.9 * v2 + s1 @ w2
            s2 = spike2(v2 - 1.0) + surrogate.piecewise_quadratic(v2 - 1.0, alpha=2.0)
            return (v1 * (1 - jax.lax.stop_gradient(s1)), v2 * (1 - s2 / 2)), s2

        _, out = jax.lax.scan(step, (jnp.zeros(16), jnp.zeros(4)), inputs)
        return jnp.mean((out.sum(0) - 5.0) ** 2)

    value, grads = jax.jit(jax.value_and_grad(loss))((w1, w2))
    smooth = spike1.surrogate_fun(jnp.linspace(-1.0, 1.0, 5))
    return value, grads, smooth


if __name__ == "__main__":
    import braintools.surrogate as surrogate  # the original

    import surrogen.jax.presets.braintools as surrogen_surrogate  # the only change

    theirs, ours = run(surrogate), run(surrogen_surrogate)
    print(f"loss: braintools {float(theirs[0]):.9g}, surrogen {float(ours[0]):.9g}")
    for name, a, b in zip(("d/dw1", "d/dw2"), theirs[1], ours[1], strict=True):
        gap, scale = float(np.max(np.abs(a - b))), float(np.max(np.abs(a)))
        print(f"{name}: max |difference| {gap:.3g} (max |grad| {scale:.3g})")
    print(f"surrogate_fun: max |difference| {float(np.max(np.abs(theirs[2] - ours[2]))):.3g}")

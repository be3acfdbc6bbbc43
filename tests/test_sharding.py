"""Scale-out on JAX's own SPMD: the generated functions work unchanged on sharded arrays.

A subprocess gets four CPU devices (``--xla_force_host_platform_device_count=4``; the flag must be
set before JAX starts) and checks, against the same computation on one device:
``jit`` with ``NamedSharding`` inputs and ``shard_map`` for ``spike``, ``grad`` and the gradient
of ``spike``, and a data-parallel training step of a LIF layer unrolled with ``lax.scan``.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    from surrogen.jax import sigmoid, superspike, SuperSpike

    shard_map = getattr(jax, "shard_map", None)
    if shard_map is None:  # JAX < 0.7
        from jax.experimental.shard_map import shard_map

    assert jax.device_count() == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    rows = NamedSharding(mesh, P("data"))

    # jit with sharded inputs: values, gradients and the output sharding
    x = jnp.linspace(-3.0, 3.0, 64).reshape(8, 8)
    alpha = jnp.linspace(1.0, 8.0, 8)  # per-neuron, replicated
    xs = jax.device_put(x, rows)
    for m in (sigmoid, superspike):
        for fn in (m.spike, m.grad, m.origin):
            single = fn(x)
            sharded = jax.jit(fn)(xs)
            assert sharded.sharding.is_equivalent_to(rows, 2), sharded.sharding
            # jit fuses differently from eager: 1 ulp apart at most
            np.testing.assert_allclose(np.asarray(sharded), np.asarray(single), rtol=3e-7)
        g = jax.grad(lambda v: jnp.sum(m.spike(v)))
        np.testing.assert_allclose(np.asarray(jax.jit(g)(xs)), np.asarray(g(x)), rtol=1e-6)
    per = jax.jit(sigmoid.grad)(xs, alpha)
    np.testing.assert_allclose(np.asarray(per), np.asarray(sigmoid.grad(x, alpha)), rtol=1e-6)

    # shard_map: each device runs the kernel on its rows
    for fn in (sigmoid.spike, sigmoid.grad, jax.grad(lambda v: jnp.sum(sigmoid.spike(v)))):
        mapped = shard_map(fn, mesh=mesh, in_specs=P("data"), out_specs=P("data"))
        np.testing.assert_allclose(np.asarray(jax.jit(mapped)(xs)), np.asarray(fn(x)), rtol=1e-6)

    # data-parallel LIF training step: batch sharded, weights replicated
    def loss_fn(params, inputs, targets):
        w, spike_fn = params

        def step(v, x_t):
            v = 0.9 * v + x_t @ w
            s = spike_fn(v - 1.0)
            return v * (1.0 - jax.lax.stop_gradient(s)), s

        v0 = jnp.zeros((inputs.shape[1], w.shape[1]))
        _, spikes = jax.lax.scan(step, v0, inputs)  # inputs: (time, batch, features)
        return jnp.mean((spikes.sum(0) - targets) ** 2)

    key = jax.random.PRNGKey(0)
    inputs = jax.random.uniform(key, (20, 16, 5))
    targets = jax.random.randint(jax.random.PRNGKey(1), (16, 4), 0, 4).astype(jnp.float32)
    params = (jax.random.normal(jax.random.PRNGKey(2), (5, 4)) * 0.5, SuperSpike(beta=20.0))

    def train_step(params, inputs, targets):
        loss, grads = jax.value_and_grad(loss_fn)(params, inputs, targets)
        w = params[0] - 0.1 * grads[0]
        return loss, grads[0], w

    single = train_step(params, inputs, targets)
    batch = NamedSharding(mesh, P(None, "data"))
    step = jax.jit(train_step)
    by_row = NamedSharding(mesh, P("data"))
    sharded = step(params, jax.device_put(inputs, batch), jax.device_put(targets, by_row))
    for a, b in zip(sharded, single):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    assert float(single[0]) > 0 and np.any(np.asarray(single[1]) != 0)
    print("sharding OK")
    """
)


def test_jit_shard_map_and_a_data_parallel_lif_step_on_four_cpu_devices():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "sharding OK" in run.stdout

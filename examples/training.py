"""The Randman-style network and its training loop, shared by the scripts and the smoke tests.

Network (Zenke & Vogels 2021): inputs -> LIF hidden layer (optionally recurrent) -> leaky-integrator
readout; the class score is the readout's maximum over time, trained with cross-entropy and Adam.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from snn import LIFConfig, leaky_readout, lif_layer
from snn.lif import SpikeFn

Params = dict[str, jax.Array]


class NetConfig(NamedTuple):
    """Shapes and neuron settings; ``weight_scale`` is a weight's std times ``sqrt(fan_in)``."""

    n_in: int = 20
    n_hidden: int = 128
    n_out: int = 10
    recurrent: bool = False
    lif: LIFConfig = LIFConfig()
    weight_scale: float = 7.0


DEFAULT = NetConfig()


def init_params(key: jax.Array, cfg: NetConfig) -> Params:
    """Gaussian weights scaled by fan-in; recurrent ones start small (nearly feed-forward)."""
    k1, k2, k3 = jax.random.split(key, 3)
    params = {
        "w_in": cfg.weight_scale
        / np.sqrt(cfg.n_in)
        * jax.random.normal(k1, (cfg.n_in, cfg.n_hidden)),
        "w_out": cfg.weight_scale
        / np.sqrt(cfg.n_hidden)
        * jax.random.normal(k2, (cfg.n_hidden, cfg.n_out)),
    }
    if cfg.recurrent:
        params["w_rec"] = (
            1.0 / np.sqrt(cfg.n_hidden) * jax.random.normal(k3, (cfg.n_hidden, cfg.n_hidden))
        )
    return params


def forward(
    params: Params, x: jax.Array, spike_fn: SpikeFn, cfg: NetConfig
) -> tuple[jax.Array, jax.Array]:
    """Run ``x`` ``(batch, T, n_in)``; return readout ``(T, batch, n_out)`` and hidden spikes."""
    h = jnp.einsum("btu,uh->tbh", x, params["w_in"])
    spikes, _ = lif_layer(h, spike_fn, cfg.lif, params.get("w_rec"))
    out = leaky_readout(spikes @ params["w_out"], cfg.lif)
    return out, spikes


def loss_and_acc(
    params: Params, x: jax.Array, y: jax.Array, spike_fn: SpikeFn, cfg: NetConfig
) -> tuple[jax.Array, jax.Array]:
    """Max-over-time cross-entropy, and the batch accuracy as the ``has_aux`` output."""
    out, _ = forward(params, x, spike_fn, cfg)
    logits = out.max(axis=0)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, (logits.argmax(-1) == y).mean()


def accuracy(
    params: Params, x: np.ndarray, y: np.ndarray, spike_fn: SpikeFn, cfg: NetConfig
) -> float:
    """Accuracy over a whole split (the forward pass is cheap enough for a single batch)."""
    _, acc = jax.jit(lambda p, a, b: loss_and_acc(p, a, b, spike_fn, cfg))(params, x, y)
    return float(acc)


class History(NamedTuple):
    """Per-epoch training loss and validation accuracy, and the wall time of the whole fit."""

    loss: list[float]
    val_acc: list[float]
    wall_s: float


def fit(
    key: jax.Array,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    spike_fn: SpikeFn,
    cfg: NetConfig = DEFAULT,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 1e-2,
    log: Callable[[str], None] | None = None,
) -> tuple[Params, History]:
    """Train with Adam on shuffled minibatches; keep the best validation epoch's parameters."""
    k_init, k_shuffle = jax.random.split(key)
    params = init_params(k_init, cfg)
    opt = optax.adam(lr)
    opt_state = opt.init(params)
    grad_fn = jax.value_and_grad(lambda p, a, b: loss_and_acc(p, a, b, spike_fn, cfg), has_aux=True)

    @jax.jit
    def step(params, opt_state, xb, yb):
        (loss, _), g = grad_fn(params, xb, yb)
        updates, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    eval_fn = jax.jit(lambda p, a, b: loss_and_acc(p, a, b, spike_fn, cfg)[1])
    rng = np.random.default_rng(int(jax.random.randint(k_shuffle, (), 0, 2**31 - 1)))
    n_batches = max(1, len(train[1]) // batch_size)
    best, best_acc, losses, accs = params, -1.0, [], []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(train[1]))
        total = 0.0
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            params, opt_state, loss = step(params, opt_state, train[0][idx], train[1][idx])
            total += float(loss)
        losses.append(total / n_batches)
        accs.append(float(eval_fn(params, val[0], val[1])))
        if accs[-1] > best_acc:
            best, best_acc = params, accs[-1]
        if log:
            log(
                f"epoch {epoch + 1:3d}  loss {losses[-1]:.4f}  val {accs[-1]:.4f}  "
                f"{time.perf_counter() - t0:.0f}s"
            )
    return best, History(losses, accs, time.perf_counter() - t0)

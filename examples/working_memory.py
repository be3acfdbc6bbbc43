"""Working memory: recurrent GIF against plain LIF on a delayed-cue task (lecture, part 5).

    python examples/working_memory.py          # writes examples/results/working_memory.csv

Each trial shows one of two cues (10 input neurons firing at 40 Hz for 100 ms), then a delay with
only 10 Hz background noise, then a 100 ms recall signal; the readout, averaged over the recall
window, must name the cue. The membrane (20 ms) forgets within a few tens of ms, so without
recurrent attractors a plain LIF network is at chance after a long delay, whereas the GIF threshold
(time constant 1 s) still carries a trace of which neurons the cue drove. Trials are drawn afresh
for every batch; the test set is 1000 fixed trials.
"""

from __future__ import annotations

import argparse
import csv
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from snn import GIFConfig, LIFConfig, gif_layer, leaky_readout, lif_layer
from surrogen.jax import superspike

RESULTS = Path(__file__).resolve().parent / "results"
N_IN, CUE_MS, RECALL_MS = 40, 100, 100
GIF = GIFConfig(tau_th=1.0, a_th=0.3, a_v=0.0, tau_as=100e-3, a_as=-0.1)
# Ablations: which of GIF's two slow variables holds the memory?
NEURONS = {
    "gif": GIF,
    "gif_fixed_threshold": GIF._replace(a_th=0.0),
    "gif_no_after_spike_current": GIF._replace(a_as=0.0),
}
LIF = LIFConfig()


def trials(rng: np.random.Generator, n: int, delay_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(n, T, 40)`` Poisson inputs (cue A, cue B, recall, noise) and the cue labels."""
    t = CUE_MS + delay_ms + RECALL_MS
    label = rng.integers(0, 2, n)
    rate = np.full((n, t, N_IN), 0.01, np.float32)  # 10 Hz background at dt = 1 ms
    rate[:, :, :30] = 0.0
    for c in (0, 1):
        rate[label == c, :CUE_MS, 10 * c : 10 * c + 10] = 0.04
    rate[:, -RECALL_MS:, 20:30] = 0.04
    return (rng.random(rate.shape) < rate).astype(np.float32), label.astype(np.int32)


def init(key: jax.Array, n_hidden: int) -> dict[str, jax.Array]:
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w_in": 3.0 / np.sqrt(N_IN) * jax.random.normal(k1, (N_IN, n_hidden)),
        "w_rec": 1.0 / np.sqrt(n_hidden) * jax.random.normal(k2, (n_hidden, n_hidden)),
        "w_out": 3.0 / np.sqrt(n_hidden) * jax.random.normal(k3, (n_hidden, 2)),
    }


def loss_and_acc(params, x, y, neuron: str):
    h = jnp.einsum("btu,uh->tbh", x, params["w_in"])
    spike_fn = functools.partial(superspike.spike, beta=20.0)
    if neuron in NEURONS:
        spikes = gif_layer(h, spike_fn, NEURONS[neuron], params["w_rec"])[0]
    else:
        spikes = lif_layer(h, spike_fn, LIF, params["w_rec"])[0]
    logits = leaky_readout(spikes @ params["w_out"])[-RECALL_MS:].mean(0)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    rate = spikes.mean() * 1000.0  # Hz
    return loss + 1e-4 * rate**2 / 100.0, ((logits.argmax(-1) == y).mean(), rate)


def train(
    neuron: str, delay_ms: int, seed: int, steps: int, n_hidden: int = 60
) -> tuple[float, float]:
    """Train one network; returns (test accuracy, mean firing rate in Hz on the test set)."""
    rng = np.random.default_rng(seed)
    params = init(jax.random.PRNGKey(seed), n_hidden)
    opt = optax.adam(5e-3)
    state = opt.init(params)
    grad_fn = jax.value_and_grad(functools.partial(loss_and_acc, neuron=neuron), has_aux=True)

    @jax.jit
    def step(params, state, x, y):
        (loss, aux), g = grad_fn(params, x, y)
        updates, state = opt.update(g, state, params)
        return optax.apply_updates(params, updates), state, loss, aux[0]

    for i in range(steps):
        params, state, loss, acc = step(params, state, *trials(rng, 64, delay_ms))
        if (i + 1) % 50 == 0:
            print(
                f"  {neuron} delay {delay_ms} ms step {i + 1}: loss {float(loss):.3f} "
                f"batch acc {float(acc):.2f}"
            )
    x, y = trials(np.random.default_rng(10_000 + seed), 1000, delay_ms)
    _, (acc, rate) = jax.jit(functools.partial(loss_and_acc, neuron=neuron))(params, x, y)
    return float(acc), float(rate)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--delays", type=int, nargs="+", default=[50, 200, 500], help="delay lengths in ms"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--neurons", nargs="+", default=["lif", "gif"], choices=["lif", *NEURONS])
    p.add_argument("--steps", type=int, default=300, help="Adam steps of 64 fresh trials")
    p.add_argument("--out", type=Path, default=RESULTS / "working_memory.csv")
    args = p.parse_args(argv)
    rows = []
    for delay in args.delays:
        for neuron in args.neurons:
            for seed in args.seeds:
                acc, rate = train(neuron, delay, seed, args.steps)
                rows.append([neuron, delay, seed, args.steps, f"{acc:.4f}", f"{rate:.1f}"])
                print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["neuron", "delay_ms", "seed", "train_steps", "test_acc", "rate_hz"])
        w.writerows(rows)


if __name__ == "__main__":
    main()

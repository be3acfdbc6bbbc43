"""scikit-learn's bundled 8x8 digits through each lecture encoder into a small LIF network.

    python examples/digits.py            # writes examples/results/digits.csv

Encoders: Poisson rate (50 steps, spike probability 0.5 per step at full intensity), latency with
the linear and the RC/log time-to-first-spike rule (50 steps, one spike per pixel; pixels at or
below 0.2 never cross and clamp to the last step), and delta modulation of the image swept past two
8-pixel line sensors, one row by row and one column by column (48 steps, each line in view 6 steps;
on and off channels, threshold 0.1: only edges between neighbouring lines make spikes).
Network: 128 feed-forward LIF, leaky readout, max-over-time cross-entropy, SuperSpike (beta = 20),
Adam. No published figure exists for this setup, so a logistic regression on the raw pixels is
the baseline.
"""

from __future__ import annotations

import argparse
import csv
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import encoders
from surrogen.jax import superspike
from training import NetConfig, accuracy, fit

RESULTS = Path(__file__).resolve().parent / "results"
N_STEPS = 50


def encode(name: str, images: np.ndarray, key: jax.Array) -> np.ndarray:
    """Turn ``(n, 64)`` intensities in ``[0, 1]`` into ``(n, T, channels)`` float32 rasters."""
    x = jnp.asarray(images)
    if name == "poisson":
        raster = encoders.poisson(key, x, N_STEPS, max_rate=0.5)
    elif name in ("latency_linear", "latency_log"):
        raster = encoders.latency(x, N_STEPS, method=name.split("_")[1], threshold=0.2)
    elif name == "delta":
        img = x.reshape(-1, 8, 8)
        # Two line sensors: row r (and column r) is in view during steps 6r..6r+5.
        lines = jnp.concatenate([img, jnp.swapaxes(img, 1, 2)], axis=2)  # (n, 8, 16)
        swept = jnp.repeat(jnp.swapaxes(lines, 0, 1), 6, axis=0)  # (48, n, 16)
        spikes = encoders.delta(swept, threshold=0.1)  # (48, n, 16, 2): on and off
        raster = spikes.reshape(*spikes.shape[:2], 32)
    else:
        raise ValueError(name)
    return np.asarray(jnp.swapaxes(raster, 0, 1))


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=RESULTS / "digits.csv")
    args = p.parse_args(argv)

    data = load_digits()
    x, y = (data.data / 16.0).astype(np.float32), data.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    x_va, x_te, y_va, y_te = train_test_split(
        x_te, y_te, test_size=0.5, stratify=y_te, random_state=0
    )
    baseline = LogisticRegression(max_iter=2000).fit(x_tr, y_tr).score(x_te, y_te)
    rows: list[list] = [["logistic_regression_pixels", "-", f"{baseline:.4f}", "", ""]]
    print(rows[0])
    spike_fn = functools.partial(superspike.spike, beta=20.0)
    for name in ("poisson", "latency_linear", "latency_log", "delta"):
        for seed in args.seeds:
            k = jax.random.split(jax.random.PRNGKey(seed), 3)
            tr, va, te = (encode(name, a, kk) for a, kk in zip((x_tr, x_va, x_te), k, strict=True))
            # Input weight std 7/sqrt(spikes per sample), the drive of Randman's 20 spikes.
            n_spikes = float(tr.sum(axis=(1, 2)).mean())
            cfg = NetConfig(
                tr.shape[-1], 128, 10, weight_scale=7.0 * np.sqrt(tr.shape[-1] / n_spikes)
            )
            net, hist = fit(
                k[0],
                (tr, y_tr),
                (va, y_va),
                spike_fn,
                cfg,
                epochs=args.epochs,
                batch_size=128,
                lr=5e-3,
            )
            acc = accuracy(net, te, y_te, spike_fn, cfg)
            rows.append(
                [
                    name,
                    seed,
                    f"{acc:.4f}",
                    f"{n_spikes:.1f}",
                    f"{hist.wall_s:.1f}",
                ]
            )
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["encoder", "seed", "test_acc", "input_spikes_per_sample", "wall_s"])
        w.writerows(rows)
    return {r[0]: float(r[2]) for r in rows}


if __name__ == "__main__":
    main()

"""Randman: random smooth manifolds turned into spike-timing classification (Zenke & Vogels 2021).

Each class is a random smooth map ``f: [0, 1]^D -> R^U``. Every coordinate is a product over the
``D`` manifold dimensions of a random Fourier-like series ``sum_k a_k s_k sin(2 pi (k f_k x +
p_k))`` with ``a, f, p ~ U(0, 1)`` and power spectrum ``s_k = 1 / (k + 1)^alpha`` (larger ``alpha``
= smoother; the series is cut where ``s_k`` drops below ``prec``). A sample draws ``x ~ U(0, 1)^D``,
standardises each unit's value over the class to ``[0, 1)``, and fires that unit once at step
``floor(value * nb_steps * step_frac)``. The classes overlap in every single unit, so only the joint
timing pattern tells them apart. Written from the paper's definition; it draws from numpy's
``default_rng`` so it is not bit-identical to the ``randman`` package.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    """Rasters ``x`` ``(n, nb_steps, nb_units)`` (float32) and labels ``y`` (int32)."""

    x: np.ndarray
    y: np.ndarray


def manifold(
    rng: np.random.Generator, nb_units: int, dim: int, alpha: float, prec: float = 1e-3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one manifold's amplitudes, frequencies and phases, each ``(U, D, K)``."""
    k_max = int(min(np.ceil(prec ** (-1.0 / alpha)), 1000))
    amp, freq, phase = rng.random((3, nb_units, dim, k_max))
    amp[:, :, 0] = 0.0  # the k = 0 term is a constant offset ("bias"); Randman leaves it out
    amp /= np.arange(1, k_max + 1) ** alpha
    return amp, freq, phase


def evaluate(params: tuple[np.ndarray, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Embed manifold coordinates ``x`` of shape ``(n, D)`` into ``(n, U)``."""
    amp, freq, phase = params
    k = np.arange(amp.shape[-1])
    arg = 2.0 * np.pi * (k * freq * x[:, None, :, None] + phase)  # (n, U, D, K)
    return (amp * np.sin(arg)).sum(-1).prod(-1)


def spike_times(
    nb_classes: int = 10,
    nb_units: int = 20,
    nb_steps: int = 100,
    nb_samples: int = 1000,
    dim_manifold: int = 1,
    alpha: float = 1.0,
    step_frac: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled spike steps ``(nb_classes * nb_samples, nb_units)`` and their labels."""
    rng = np.random.default_rng(seed)
    times, labels = [], []
    for c in range(nb_classes):
        params = manifold(rng, nb_units, dim_manifold, alpha)
        y = evaluate(params, rng.random((nb_samples, dim_manifold)))
        y = (y - y.min(0)) / (y.max(0) - y.min(0) + 1e-7)
        times.append(np.floor(y * nb_steps * step_frac).astype(np.int32))
        labels.append(np.full(nb_samples, c, np.int32))
    order = rng.permutation(nb_classes * nb_samples)
    return np.concatenate(times)[order], np.concatenate(labels)[order]


def to_raster(times: np.ndarray, nb_steps: int) -> np.ndarray:
    """One-hot the spike steps into a ``(n, nb_steps, nb_units)`` float32 raster."""
    n, u = times.shape
    raster = np.zeros((n, nb_steps, u), np.float32)
    raster[np.arange(n)[:, None], np.minimum(times, nb_steps - 1), np.arange(u)[None, :]] = 1.0
    return raster


def make_randman(
    nb_steps: int = 100, split: tuple[float, float] = (0.8, 0.1), **kwargs
) -> tuple[Split, Split, Split]:
    """Generate Randman and split it 80/10/10 into (train, validation, test) rasters.

    Defaults: 10 classes, 20 units, one spike per unit, 100 steps, 1000 samples per class;
    ``kwargs`` go to :func:`spike_times` (e.g. ``seed``, ``nb_samples`` for a tiny test set).
    """
    times, labels = spike_times(nb_steps=nb_steps, **kwargs)
    raster = to_raster(times, nb_steps)
    n = len(labels)
    a, b = int(split[0] * n), int((split[0] + split[1]) * n)
    return (
        Split(raster[:a], labels[:a]),
        Split(raster[a:b], labels[a:b]),
        Split(raster[b:], labels[b:]),
    )

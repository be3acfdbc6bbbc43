"""Shape-versus-scale study of surrogate gradients on Randman (after Zenke & Vogels 2021).

    python examples/surrogate_study.py --part main --seeds 0 1 2   # shapes x beta, peak 1
    python examples/surrogate_study.py --part contrast --seeds 0   # normalisation x reset
    python examples/surrogate_study.py --plot                      # CSV -> PNGs + tables

Every run trains the network of ``train_randman.py`` for ``--epochs`` epochs (10 by default, a
quarter of the headline run: all 150 runs take about 1.8 h on one CPU core, about an hour on two)
and records the test accuracy at the best validation epoch. Rows are appended to
``results/surrogate_study.csv`` as they finish and finished rows are skipped, so an interrupted
study resumes where it stopped.

``beta`` is each shape's own steepness parameter: SuperSpike ``beta``, sigmoid ``alpha``,
exponential (SLAYER) ``beta`` with ``alpha = 1``, arctan ``alpha``, triangle (piecewise quadratic)
``alpha``, and a rectangle of width ``1 / beta``. ``norm = peak`` rescales each to peak 1; ``norm =
area`` to unit area, the true derivative of a smooth step, whose peak grows with ``beta`` (the
paper's un-normalised case).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import time
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from randman import make_randman
from snn import LIFConfig
from surrogates import normalised
from training import NetConfig, accuracy, fit

RESULTS = Path(__file__).resolve().parent / "results"
BETAS = (1.0, 5.0, 20.0, 100.0)
# study name -> (surrogen.jax module, beta -> its parameters)
SHAPES = {
    "superspike": ("superspike", lambda b: {"beta": b}),
    "sigmoid": ("sigmoid", lambda b: {"alpha": b}),
    "exponential": ("slayer", lambda b: {"alpha": 1.0, "beta": b}),
    "arctan": ("arctan", lambda b: {"alpha": b}),
    "triangle": ("piecewise_quadratic", lambda b: {"alpha": b}),
    "rectangular": ("rectangular", lambda b: {"alpha": 1.0 / b}),
}
CONTRAST_SHAPES = ("superspike", "sigmoid")
FIELDS = [
    "part",
    "shape",
    "beta",
    "norm",
    "reset",
    "seed",
    "epochs",
    "test_acc",
    "best_val_acc",
    "wall_s",
]


class Condition(NamedTuple):
    """One training run of the study."""

    part: str
    shape: str
    beta: float
    norm: str
    reset: str
    seed: int

    def key(self) -> tuple[str, ...]:
        return (self.shape, f"{self.beta:g}", self.norm, self.reset, str(self.seed))


def conditions(part: str, seeds: list[int]) -> list[Condition]:
    """List the runs of one part of the study.

    ``main``: every shape x beta, peak-normalised, detached reset, plus the two baselines.
    ``contrast``: two shapes x beta x {peak, area} x {detached, differentiable}, minus the main
    grid's cells.
    """
    out = []
    for seed in seeds:
        if part == "main":
            out += [Condition(part, s, b, "peak", "detached", seed) for s in SHAPES for b in BETAS]
            out += [Condition(part, "straight_through", 0.0, "none", "detached", seed)]
            out += [Condition(part, "zero_grad", 0.0, "none", "detached", seed)]
        else:
            for s in CONTRAST_SHAPES:
                for norm in ("peak", "area"):
                    for reset in ("detached", "differentiable"):
                        if (norm, reset) != ("peak", "detached"):
                            out += [Condition(part, s, b, norm, reset, seed) for b in BETAS]
    return out


def spike_fn(c: Condition):
    """Build the condition's surrogate from the generated module's public API."""
    if c.shape == "zero_grad":
        return lambda x: (x >= 0).astype(
            x.dtype
        )  # autodiff of the true step: zero almost everywhere
    if c.shape == "straight_through":
        return importlib.import_module("surrogen.jax.straight_through").spike
    module_name, params = SHAPES[c.shape]
    return normalised(
        importlib.import_module(f"surrogen.jax.{module_name}"), c.norm, **params(c.beta)
    )


def run(args: argparse.Namespace) -> None:
    done = set()
    if args.out.exists():
        with args.out.open() as f:
            done = {
                (r["shape"], r["beta"], r["norm"], r["reset"], r["seed"]) for r in csv.DictReader(f)
            }
    todo = [c for c in conditions(args.part, args.seeds) if c.key() not in done]
    if args.shapes:
        todo = [c for c in todo if c.shape in args.shapes]
    print(f"{len(todo)} runs to do, {len(done)} already in {args.out}", flush=True)
    train, val, test = make_randman(seed=0)
    new_file = not args.out.exists()
    for i, c in enumerate(todo):
        cfg = NetConfig(lif=LIFConfig(detach_reset=c.reset == "detached"))
        fn = spike_fn(c)
        t0 = time.perf_counter()
        net, hist = fit(
            jax.random.PRNGKey(c.seed), train, val, fn, cfg, epochs=args.epochs, lr=args.lr
        )
        acc = accuracy(net, test.x, test.y, fn, cfg)
        row = [*c[:2], f"{c.beta:g}", *c[3:], args.epochs, f"{acc:.4f}", f"{max(hist.val_acc):.4f}"]
        row.append(f"{time.perf_counter() - t0:.1f}")
        with args.out.open("a", newline="") as f:
            w = csv.writer(f)
            if new_file:
                w.writerow(FIELDS)
                new_file = False
            w.writerow(row)
        print(f"[{i + 1}/{len(todo)}] {dict(zip(FIELDS, row, strict=True))}", flush=True)


def load(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def summarise(rows: list[dict[str, str]], **match: str) -> dict[float, tuple[float, float, int]]:
    """Beta -> (mean, std, n) of test accuracy over seeds, for rows matching ``match``."""
    acc: dict[float, list[float]] = {}
    for r in rows:
        if all(r[k] == v for k, v in match.items()):
            acc.setdefault(float(r["beta"]), []).append(float(r["test_acc"]))
    return {b: (float(np.mean(a)), float(np.std(a)), len(a)) for b, a in sorted(acc.items())}


def plot(path: Path) -> None:
    """Write the two figures and print the markdown tables used in examples/README.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    print("| shape | " + " | ".join(f"beta={b:g}" for b in BETAS) + " |")
    print("|---|" + "---|" * len(BETAS))
    for shape in SHAPES:
        s = summarise(rows, shape=shape, norm="peak", reset="detached")
        if not s:
            continue
        bs = list(s)
        ax.errorbar(
            bs,
            [s[b][0] for b in bs],
            yerr=[s[b][1] for b in bs],
            marker="o",
            capsize=3,
            label=shape,
        )
        print(f"| {shape} | " + " | ".join(_cell(s.get(b)) for b in BETAS) + " |")
    for base, style in (("straight_through", "--"), ("zero_grad", ":")):
        s = summarise(rows, shape=base)
        if s:
            ax.axhline(s[0.0][0], color="k", ls=style, label=base)
            print(f"| {base} | " + " | ".join(_cell(s[0.0]) for _ in BETAS) + " |")
    ax.set(
        xscale="log",
        xlabel="steepness beta",
        ylabel="test accuracy",
        title=f"Randman, peak-normalised, {rows[0]['epochs']} epochs",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_name(f"{path.stem}_shapes.png"), dpi=110)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    print("\n| shape | norm | reset | " + " | ".join(f"beta={b:g}" for b in BETAS) + " |")
    print("|---|---|---|" + "---|" * len(BETAS))
    for ax, shape in zip(axes, CONTRAST_SHAPES, strict=True):
        for norm in ("peak", "area"):
            for reset in ("detached", "differentiable"):
                s = summarise(rows, shape=shape, norm=norm, reset=reset)
                if not s:
                    continue
                bs = list(s)
                ls = "-" if reset == "detached" else "--"
                ax.errorbar(
                    bs,
                    [s[b][0] for b in bs],
                    yerr=[s[b][1] for b in bs],
                    marker="o",
                    ls=ls,
                    capsize=3,
                    label=f"{norm}-normalised, {reset} reset",
                )
                print(
                    f"| {shape} | {norm} | {reset} | "
                    + " | ".join(_cell(s.get(b)) for b in BETAS)
                    + " |"
                )
        ax.set(xscale="log", xlabel="steepness beta", title=f"{shape}, {rows[0]['epochs']} epochs")
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_name(f"{path.stem}_contrast.png"), dpi=110)


def _cell(s: tuple[float, float, int] | None) -> str:
    return "" if s is None else f"{s[0]:.3f} ± {s[1]:.3f} (n={s[2]})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--part", choices=["main", "contrast"], default="main")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--shapes", nargs="+", help="only these shapes (to split runs over processes)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--out", type=Path, default=RESULTS / "surrogate_study.csv")
    p.add_argument("--plot", action="store_true", help="only plot and tabulate the CSV")
    args = p.parse_args(argv)
    if args.plot:
        plot(args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()

"""Train the Randman network with a generated surrogate.

    python examples/train_randman.py            # SuperSpike, beta = 20 (peak 1), 40 epochs
    python examples/train_randman.py --beta 5   # another SuperSpike steepness
    python examples/train_randman.py --surrogate sigmoid --param alpha=10

128 feed-forward LIF neurons (tau_mem 20 ms, tau_syn 10 ms, dt 1 ms), a leaky-integrator readout,
max-over-time cross-entropy and Adam. The test accuracy is measured on the parameters of the best
validation epoch; one CSV row per epoch goes to ``examples/results/randman_train.csv``.
Surrogate parameters not given keep the module's defaults (SuperSpike: beta = 20).
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib
import inspect
from pathlib import Path
from types import ModuleType

import jax

from randman import make_randman
from snn import LIFConfig
from training import NetConfig, accuracy, fit

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--surrogate", default="superspike", help="module name under surrogen.jax")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the surrogate's spike(), e.g. alpha=10 (repeatable)",
    )
    p.add_argument(
        "--beta",
        type=float,
        help="shorthand for --param beta=VALUE; only for surrogates with a beta parameter "
        "(SuperSpike: steepness, default 20, peak stays 1)",
    )
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0, help="network seed")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--recurrent", action="store_true")
    p.add_argument("--differentiable-reset", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "randman_train.csv")
    p.add_argument("--plot", action="store_true", help="only redraw the PNG from the CSV")
    args = p.parse_args(argv)
    if args.plot:
        return plot(args.out)

    try:
        module = importlib.import_module(f"surrogen.jax.{args.surrogate}")
    except ModuleNotFoundError as e:
        if e.name != f"surrogen.jax.{args.surrogate}":
            raise
        p.error(f"--surrogate: no module surrogen.jax.{args.surrogate}")
    params = surrogate_params(p, module, args)
    spike_fn = functools.partial(module.spike, **params)
    cfg = NetConfig(
        recurrent=args.recurrent, lif=LIFConfig(detach_reset=not args.differentiable_reset)
    )
    train, val, test = make_randman(seed=args.data_seed)
    net, hist = fit(
        jax.random.PRNGKey(args.seed),
        (train.x, train.y),
        (val.x, val.y),
        spike_fn,
        cfg,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        log=functools.partial(print, flush=True),
    )
    acc = accuracy(net, test.x, test.y, spike_fn, cfg)
    best = max(range(len(hist.val_acc)), key=hist.val_acc.__getitem__) + 1
    print(
        f"test accuracy {acc:.4f} (best validation epoch {best} of {args.epochs}, "
        f"{hist.wall_s:.0f} s training)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train_loss", "val_acc"])
        w.writerows(
            [i + 1, f"{lo:.5f}", f"{va:.4f}"]
            for i, (lo, va) in enumerate(zip(hist.loss, hist.val_acc, strict=True))
        )
        w.writerow(["test", "", f"{acc:.4f}"])
        w.writerow(["wall_s", "", f"{hist.wall_s:.1f}"])
    plot(args.out)
    return acc


def surrogate_params(
    p: argparse.ArgumentParser, module: ModuleType, args: argparse.Namespace
) -> dict[str, float]:
    """Turn ``--param`` and ``--beta`` into keywords for ``module.spike``; reject unknown names."""
    known = [n for n in inspect.signature(module.spike).parameters if n != "x"]
    given = []
    for arg in args.param:
        name, eq, value = arg.partition("=")
        try:
            given.append((f"--param {arg}", name, float(value) if eq else None))
        except ValueError:
            given.append((f"--param {arg}", name, None))
    if args.beta is not None:
        given.append((f"--beta {args.beta:g}", "beta", args.beta))
    params: dict[str, float] = {}
    for flag, name, value in given:
        if value is None:
            p.error(f"{flag}: expected NAME=VALUE with a numeric VALUE")
        if name not in known:
            p.error(
                f"{flag}: surrogate {args.surrogate!r} has no parameter {name!r} "
                f"(its parameters: {', '.join(known) or 'none'})"
            )
        if name in params:
            p.error(f"{flag}: parameter {name!r} given twice")
        params[name] = value
    return params


def plot(path: Path) -> float:
    """Draw validation accuracy per epoch next to the CSV; return the recorded test accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with path.open() as f:
        rows = list(csv.reader(f))[1:]
    epochs = [(int(r[0]), float(r[2])) for r in rows if r[0].isdigit()]
    test = float(next(r[2] for r in rows if r[0] == "test"))
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(*zip(*epochs, strict=True), marker=".", label="validation")
    ax.axhline(0.963, color="grey", ls=":", label="target 0.963")
    ax.set(
        xlabel="epoch",
        ylabel="accuracy",
        ylim=(0, 1),
        title=f"Randman, SuperSpike (test {test:.3f})",
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    return test


if __name__ == "__main__":
    main()

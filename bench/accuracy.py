"""``python -m bench.accuracy``: test accuracy of each save mode and of binary weights on
the same schedule and seeds (SPEC section 10's claims, at a scale this machine trains).

Trains WRN-20-k with ``python -m model.train``'s loop once per configuration and seed:
``fp32``, ``stoch``, ``det``, ``det_mse`` (the fair deterministic code), and ``fp32`` /
``stoch`` with binary weights. Prints the mean test accuracy per configuration and its
difference from ``fp32``; writes ``bench/results/accuracy.json``. Options after ``--`` go
to the training loop (e.g. ``-- --dataset cifar10 --data-dir data --train-subset 5000``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.nn.data import DatasetError, load
from model.nn.train import build_parser, train

from ._report import parse_args, save, table

#: (save mode, binary weights) pairs compared.
CONFIGS = (
    ("fp32", False),
    ("stoch", False),
    ("det", False),
    ("det_mse", False),
    ("fp32", True),
    ("stoch", True),
)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="default 0 1 2")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/accuracy.json)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then model.train options")
    args = parse_args(parser, argv, "accuracy")
    rest = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    base = build_parser().parse_args(rest)
    try:
        data = load(base.dataset, base.data_dir).subset(base.train_subset, base.test_subset)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows, runs = [], []
    for save_mode, binary in CONFIGS:
        accs = []
        for seed in args.seeds:
            print(f"save={save_mode} binary_weights={binary} seed={seed}", file=sys.stderr)
            run_args = argparse.Namespace(
                **{
                    **vars(base),
                    "save": save_mode,
                    "binary_weights": binary,
                    "seed": seed,
                    "checkpoint": None,
                    "resume": False,
                }
            )
            result, _ = train(run_args, data, log=lambda m: print(m, file=sys.stderr))
            accs.append(result["test_acc"])
            runs.append(
                {
                    k: result[k]
                    for k in ("save", "binary_weights", "seed", "test_acc", "train_seconds")
                }
            )
        rows.append(
            {
                "save": save_mode,
                "binary_weights": binary,
                "test_acc_mean": round(sum(accs) / len(accs), 4),
                "test_accs": [round(a, 4) for a in accs],
            }
        )
    ref = rows[0]["test_acc_mean"]
    for r in rows:
        r["points_vs_fp32"] = round(100 * (r["test_acc_mean"] - ref), 2)
    print(table(rows, ["save", "binary_weights", "test_acc_mean", "points_vs_fp32", "test_accs"]))
    config = {
        k: v
        for k, v in vars(base).items()
        if k not in ("save", "binary_weights", "seed", "checkpoint", "resume")
    }
    config = {k: str(v) if isinstance(v, Path) else v for k, v in config.items()}
    path = save("accuracy", rows, args.out, config=config, seeds=args.seeds, runs=runs)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

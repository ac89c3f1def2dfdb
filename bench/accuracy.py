"""``python -m bench.accuracy``: test accuracy of each save mode and of binary weights on
the same schedule and seeds (SPEC section 10's claims, at a scale this machine trains).

Trains WRN-20-k with ``python -m model.train``'s loop once per configuration and seed.
``--suite save`` (the default): ``fp32``, ``stoch``, ``det``, ``det_mse`` (the fair
deterministic code), and ``fp32`` / ``stoch`` with binary weights, each against ``fp32``;
writes ``bench/results/accuracy.json``. ``--suite random``: ``stoch`` with its random
numbers from torch's RNG, the shared LFSR and the per-lane LFSR bank
(``model.train --random``), each against torch's; writes
``bench/results/accuracy_random.json``. Prints the mean test accuracy per configuration,
its difference from the suite's first, and the per-seed figures. Options after ``--`` go
to the training loop (e.g. ``-- --dataset cifar10 --data-dir data --train-subset 5000``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.nn.data import DatasetError, load
from model.nn.train import build_parser, train

from ._report import parse_args, save, table

#: Per suite: the (save mode, binary weights, random source) triples compared, the
#: first being the reference; the results file; what the reference is called.
SUITES = {
    "save": (
        (("fp32", False, "torch"), ("stoch", False, "torch"), ("det", False, "torch"),
         ("det_mse", False, "torch"), ("fp32", True, "torch"), ("stoch", True, "torch")),
        "accuracy",
        "fp32",
    ),
    "random": (
        (("stoch", False, "torch"), ("stoch", False, "shared"), ("stoch", False, "lanes")),
        "accuracy_random",
        "torch",
    ),
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="default 0 1 2")
    parser.add_argument("--suite", choices=sorted(SUITES), default="save",
                        help="what is compared (default save; see above)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="JSON path (default per suite, above)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then model.train options")
    # The default results file depends on --suite: parse once to learn it.
    configs, name, ref_label = SUITES[parser.parse_args(argv).suite]
    args = parse_args(parser, argv, name)
    rest = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    base = build_parser().parse_args(rest)
    try:
        data = load(base.dataset, base.data_dir).subset(base.train_subset, base.test_subset)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows, runs = [], []
    for save_mode, binary, source in configs:
        accs = []
        for seed in args.seeds:
            print(f"save={save_mode} binary_weights={binary} random={source} seed={seed}",
                  file=sys.stderr)  # fmt: skip
            run_args = argparse.Namespace(
                **{
                    **vars(base),
                    "save": save_mode,
                    "binary_weights": binary,
                    "random": source,
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
                    for k in (
                        "save",
                        "binary_weights",
                        "random",
                        "seed",
                        "test_acc",
                        "train_seconds",
                    )
                }
            )
        rows.append(
            {
                "save": save_mode,
                "binary_weights": binary,
                "random": source,
                "test_acc_mean": round(sum(accs) / len(accs), 4),
                "test_accs": [round(a, 4) for a in accs],
            }
        )
    ref, points = rows[0], f"points_vs_{ref_label}"
    for r in rows:
        r[points] = round(100 * (r["test_acc_mean"] - ref["test_acc_mean"]), 2)
        # Same seed, same initial weights and data order: only the configuration differs.
        pairs = zip(r["test_accs"], ref["test_accs"], strict=True)
        r["points_per_seed"] = [round(100 * (a - b), 2) for a, b in pairs]
    columns = ["save", "binary_weights", "random", "test_acc_mean", points, "points_per_seed"]
    print(table(rows, columns))
    config = {
        k: v
        for k, v in vars(base).items()
        if k not in ("save", "binary_weights", "random", "seed", "checkpoint", "resume")
    }
    config = {k: str(v) if isinstance(v, Path) else v for k, v in config.items()}
    path = save(name, rows, args.out, config=config, seeds=args.seeds, runs=runs, suite=args.suite)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

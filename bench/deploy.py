"""``python -m bench.deploy``: how much a trained binary-weight network loses when it
becomes integer-only, at 8-, 4- and 2-bit activations.

For a checkpoint of ``python -m model.train --binary-weights --checkpoint run.pt``, makes
the integer network (:func:`model.deploy.convert`, 512 calibration images) at each
``--act-bits`` and reports float and integer test accuracy on the run's own test split
and their top-1 agreement. Prints a table and writes ``bench/results/deploy.json``:

    python -m bench.deploy --checkpoint run.pt --data-dir data
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from model.deploy import convert, evaluate, open_checkpoint
from model.nn.data import DatasetError

from ._report import RESULTS_DIR, parse_args, save, table


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (2 for bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="a model.train checkpoint")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="CIFAR (./data)")
    parser.add_argument("--act-bits", type=int, nargs="+", default=[8, 4, 2],
                        help="activation widths to try (8 4 2)")  # fmt: skip
    parser.add_argument("--calibration-images", type=int, default=512)
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/deploy.json)")
    args = parse_args(parser, argv, "deploy")
    bad = [b for b in args.act_bits if not 1 <= b <= 8]
    if bad or args.calibration_images < 1:
        parser.error(f"--act-bits must be in 1..8 and --calibration-images >= 1, not {bad}")
    try:
        net, data, meta = open_checkpoint(args.checkpoint, args.data_dir)
    except (ValueError, DatasetError) as e:
        parser.error(f"--checkpoint: {e}")
    calib = data.train_x[: args.calibration_images]
    rows = []
    for bits in args.act_bits:
        t0 = time.perf_counter()
        print(f"{bits}-bit activations: converting and evaluating ...", file=sys.stderr)
        int_net = convert(net, calib, act_bits=bits, meta=meta)
        row = evaluate(net, int_net, data)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
    columns = ["act_bits", "float_acc", "int_acc", "top1_agreement", "test_images",
               "weight_bytes", "integer_bytes"]  # fmt: skip
    print(table(rows, columns))
    out = save(
        "deploy",
        rows,
        args.out or RESULTS_DIR / "deploy.json",
        checkpoint=meta["source"],
        calibration_images=len(calib),
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.infer``: images per second of the integer reference
(:func:`model.infer.run`) on one core.

The network is WRN-20-1 at 8-, 4- and 2-bit activations: the file given with ``--net``
(its own width), else an untrained binary-weight WRN-20-1 made integer by
:func:`model.deploy.convert` on random images (the arithmetic, and so the time, does
not depend on the trained values). BLAS is held to one thread
(``threadpoolctl``). Each row is the best of ``--repeats`` runs over ``--images``
random images after one warm-up run. Prints a table and writes
``bench/results/infer.json``; about a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from model.deploy import convert
from model.infer import run
from model.intnet import IntNetwork, load
from model.nn.wrn import wrn20

from ._report import RESULTS_DIR, parse_args, save, table

#: Images per second the issue asks of WRN-20-1 on one core.
GOAL = 200


def _random_network(act_bits: int) -> IntNetwork:
    torch.manual_seed(0)
    net = wrn20(1, 10, binary_weights=True)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():  # running statistics of a sort, so the rules are not degenerate
        net.train()
        net(images)
    return convert(net.eval(), images, act_bits=act_bits)


def measure(net: IntNetwork, n: int, repeats: int) -> dict[str, object]:
    """One row: the best time of ``repeats`` runs over ``n`` images, one thread."""
    s = net.spec
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, s.in_channels, s.image_size, s.image_size), np.uint8)
    with threadpool_limits(1):
        run(net, images[: min(n, 100)])  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(net, images)
            times.append(time.perf_counter() - t0)
    best = min(times)
    return {
        "network": f"WRN-{6 * s.blocks + 2}-{s.width}",
        "act_bits": s.act_bits,
        "images": n,
        "seconds": round(best, 3),
        "images_per_s": round(n / best, 1),
        "goal": GOAL,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (2 for bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.infer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--net", type=Path, help="an integer network file (model.deploy)")
    parser.add_argument("--images", type=int, default=1000, help="images per run (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (3)")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/infer.json)")
    args = parse_args(parser, argv, "infer")
    if args.images < 1 or args.repeats < 1:
        parser.error("--images and --repeats must be at least 1")
    if args.net is not None:
        try:
            nets = [load(args.net)]
        except ValueError as e:
            parser.error(f"--net: {e}")
    else:
        print("making untrained WRN-20-1 integer networks at 8, 4, 2 bits", file=sys.stderr)
        nets = [_random_network(bits) for bits in (8, 4, 2)]
    rows = []
    for net in nets:
        print(f"timing {args.images} images at {net.spec.act_bits} bits ...", file=sys.stderr)
        rows.append(measure(net, args.images, args.repeats))
    print(table(rows, ["network", "act_bits", "images", "seconds", "images_per_s", "goal"]))
    out = save("infer", rows, args.out or RESULTS_DIR / "infer.json", threads=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

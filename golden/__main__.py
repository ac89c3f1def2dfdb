"""``python -m golden``: the only writer of the golden vectors.

Without options it regenerates ``golden/<block>/<case>.npz`` and
``golden/manifest.json``; with ``--check`` it regenerates in memory and exits 1,
naming every file that differs (and a changed spec fingerprint), without writing.
``--retrain-network`` first remakes the small trained network of the ``intnet`` cases
(``golden/network_wrn8_1_digits.npz``, see :mod:`golden.network`);
``--cifar-images`` first rewrites the CIFAR-10 test images the full-size case runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fileio import OutputError, check_output

from .generate import GOLDEN_DIR, differences, write


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m golden",
        description="Regenerate the golden vectors from the reference model, or check them.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare the golden set with a fresh generation; exit 1 naming what differs",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=GOLDEN_DIR,
        help="golden folder to write or check (default: the package's own, %(default)s)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-file progress")
    parser.add_argument(
        "--retrain-network",
        action="store_true",
        help="first retrain the committed WRN-8-1 digits network of the intnet cases "
        "(golden/network_wrn8_1_digits.npz, about a minute), then regenerate",
    )
    parser.add_argument(
        "--cifar-images",
        type=Path,
        metavar="TEST_BATCH",
        help="first rewrite golden/cifar10_test_images.npz (the first test image of each "
        "class) from this CIFAR-10 batch file (data/cifar-10-batches-py/test_batch)",
    )
    args = parser.parse_args(argv)
    if args.check and (args.retrain_network or args.cifar_images):
        parser.error("--retrain-network and --cifar-images write: not with --check")
    if args.check:
        if not (args.dir / "manifest.json").is_file():
            parser.error(
                f"--dir {args.dir}: no golden set there (no manifest.json); "
                f"`python -m golden --dir {args.dir}` writes one"
            )
        problems = differences(args.dir)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print(
                f"golden check failed: {len(problems)} problem(s); "
                "if the change is intended, run `python -m golden` and commit",
                file=sys.stderr,
            )
            return 1
        print(f"golden set in {args.dir} is current")
        return 0
    try:
        check_output(args.dir, "--dir", folder=True)
    except OutputError as e:
        parser.error(str(e))
    if args.retrain_network:
        from .network import NETWORK, train_network

        train_network(NETWORK)
    if args.cifar_images:
        from .network import write_cifar_images

        try:
            write_cifar_images(args.cifar_images)
        except (OSError, ValueError) as e:
            parser.error(f"--cifar-images: {e}")
    n = write(args.dir, verbose=not args.quiet)
    print(f"wrote {n} golden files and manifest.json to {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

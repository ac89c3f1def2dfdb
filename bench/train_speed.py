"""``python -m bench.train_speed``: time of one training step per save mode.

A step is forward, loss, backward and an SGD update of WRN-20-k on a random ``uint8``
batch. Modes are interleaved (one step of each per round, after a warm-up), so they share
the machine's load, and each mode's median is reported with its ratio to ``fp32``. Runs
on CPU, or on CUDA (``--device cuda``, the default when a GPU is present), where it also
reports peak memory. Prints a table; writes ``bench/results/train_speed.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from model.nn.layers import SAVE_MODES
from model.nn.wrn import wrn20

from ._report import parse_args, save, table


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__)
    parser.add_argument("--width", type=int, default=4, help="WRN-20-k width (default 4)")
    parser.add_argument("--batch", type=int, default=125, help="batch size (default 125)")
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per mode (default 5)")
    parser.add_argument("--binary-weights", action="store_true", help="1-bit weights")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (default cuda if available, else cpu)",
    )
    parser.add_argument("--out", type=Path, help="JSON (default bench/results/train_speed.json)")
    args = parse_args(parser, argv, "train_speed")
    if min(args.width, args.batch, args.rounds) < 1:
        parser.error("--width, --batch and --rounds must be positive")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here")
    dev = args.device
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 3, 32, 32), dtype=torch.uint8, device=dev)
    labels = torch.randint(0, 10, (args.batch,), device=dev)
    nets, opts = {}, {}
    for mode in SAVE_MODES:
        torch.manual_seed(0)
        nets[mode] = wrn20(args.width, 10, mode, args.binary_weights).to(dev).train()
        opts[mode] = torch.optim.SGD(nets[mode].parameters(), lr=0.01, momentum=0.9)
    times: dict[str, list[float]] = {m: [] for m in SAVE_MODES}
    peak: dict[str, int] = {}

    def step(mode: str) -> float:
        _sync(dev)
        t0 = time.perf_counter()
        loss = F.cross_entropy(nets[mode](images), labels)
        opts[mode].zero_grad(set_to_none=True)
        loss.backward()
        opts[mode].step()
        _sync(dev)
        return time.perf_counter() - t0

    for mode in SAVE_MODES:  # warm-up (allocator, kernels), and peak memory per mode
        if dev.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        step(mode)
        if dev.startswith("cuda"):
            peak[mode] = torch.cuda.max_memory_allocated()
    for r in range(args.rounds):
        for mode in SAVE_MODES:
            times[mode].append(step(mode))
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    base = statistics.median(times["fp32"])
    rows = []
    for mode in SAVE_MODES:
        med = statistics.median(times[mode])
        row = {
            "save": mode,
            "median_ms": round(1e3 * med, 1),
            "min_ms": round(1e3 * min(times[mode]), 1),
            "over_fp32": round(med / base, 3),
        }
        if mode in peak:
            row["peak_MiB"] = round(peak[mode] / 2**20, 1)
        rows.append(row)
    device = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else "cpu"
    print(
        f"WRN-20-{args.width}, batch {args.batch}, binary_weights={args.binary_weights}, "
        f"{device}, {torch.get_num_threads()} threads"
    )
    print(table(rows, ["save", "median_ms", "min_ms", "over_fp32", *(["peak_MiB"] * bool(peak))]))
    path = save(
        "train_speed",
        rows,
        args.out,
        width=args.width,
        batch=args.batch,
        binary_weights=args.binary_weights,
        device=device,
        threads=torch.get_num_threads(),
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

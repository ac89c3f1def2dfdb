"""``python -m bench.memory``: bytes autograd keeps for backward, per save mode.

Runs one training forward pass (and the loss) of WRN-20-k under
:func:`torch.autograd.graph.saved_tensors_hooks` and adds up every tensor autograd saves,
each storage counted once however many tensors share it. Saved parameters, buffers and
binarized weights are counted apart as ``weight_bytes``; the rest is
``activation_bytes``, the figure SPEC section 10 is about. Prints a table with the
fp32/mode ratio; writes ``bench/results/memory.json``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from model.nn.layers import SAVE_MODES
from model.nn.wrn import wrn20

from ._report import parse_args, save, table


@dataclass
class SavedBytes:
    """What one forward pass saved: bytes per class of tensor, storages counted once."""

    activation_bytes: int = 0
    weight_bytes: int = 0
    tensors: int = 0
    _seen: set[int] = field(default_factory=set, repr=False)


def count_saved(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> SavedBytes:
    """Bytes saved for backward by ``cross_entropy(net(images), labels)`` in training
    mode. ``net`` is put in training mode; its running statistics are updated once."""
    state = {t.untyped_storage().data_ptr() for t in (*net.parameters(), *net.buffers())}
    out = SavedBytes()

    def pack(t: torch.Tensor) -> torch.Tensor:
        out.tensors += 1
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in out._seen:
            out._seen.add(key)
            # A parameter or buffer, or a binarized weight (BinaryWeightFn's output).
            if key in state or type(t.grad_fn).__name__ == "BinaryWeightFnBackward":
                out.weight_bytes += storage.nbytes()
            else:
                out.activation_bytes += storage.nbytes()
        return t

    net.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(net(images), labels)
    del loss
    return out


def measure(
    width: int,
    batch: int,
    save_mode: str,
    *,
    num_classes: int = 10,
    size: int = 32,
    binary_weights: bool = False,
    seed: int = 0,
) -> SavedBytes:
    """:func:`count_saved` for WRN-20-``width`` on a random ``uint8`` batch."""
    torch.manual_seed(seed)
    net = wrn20(width, num_classes, save=save_mode, binary_weights=binary_weights)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (batch,))
    return count_saved(net, images, labels)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument(
        "--widths", type=int, nargs="+", default=[4, 10], help="WRN-20-k widths (default 4 10)"
    )
    parser.add_argument("--batch", type=int, default=125, help="batch size (default 125)")
    parser.add_argument("--classes", type=int, default=10, help="classes (default 10)")
    parser.add_argument("--binary-weights", action="store_true", help="1-bit weights")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/memory.json)")
    args = parse_args(parser, argv, "memory")
    if args.batch < 1 or min(args.widths) < 1 or args.classes < 2:
        parser.error("--widths and --batch must be positive and --classes at least 2")
    rows = []
    for width in args.widths:
        base = None
        for mode in SAVE_MODES:
            print(f"WRN-20-{width}, batch {args.batch}, save={mode} ...", file=sys.stderr)
            s = measure(
                width,
                args.batch,
                mode,
                num_classes=args.classes,
                binary_weights=args.binary_weights,
            )
            base = base or s.activation_bytes
            rows.append(
                {
                    "width": width,
                    "batch": args.batch,
                    "save": mode,
                    "activation_bytes": s.activation_bytes,
                    "activation_MiB": round(s.activation_bytes / 2**20, 2),
                    "weight_bytes": s.weight_bytes,
                    "saved_tensors": s.tensors,
                    "fp32_over_mode": round(base / s.activation_bytes, 2),
                }
            )
    print(
        table(
            rows,
            [
                "width",
                "batch",
                "save",
                "activation_MiB",
                "weight_bytes",
                "saved_tensors",
                "fp32_over_mode",
            ],
        )
    )
    path = save("memory", rows, args.out, binary_weights=args.binary_weights)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.peak_memory``: the peak memory of one training step, as a user sees it.

:mod:`bench.memory` counts what autograd keeps between the passes; a user sees the
**peak** of the process. Here each variant runs in a fresh subprocess: it builds
WRN-20-k, runs one warm-up step, then measures one more training step (forward, loss,
backward, SGD update):

- on CPU, the rise of the process high-water mark ``VmHWM`` over the resident set
  before the step (``/proc/self/clear_refs`` resets the mark), with glibc told to
  ``mmap`` every block of 64 KiB or more (``MALLOC_MMAP_THRESHOLD_=65536``) so that freed
  tensors leave the resident set at once;
- on CUDA, ``torch.cuda.max_memory_allocated`` over the memory allocated before the step.

Variants: ``fp32`` (plain autograd), ``ckpt`` (``torch.utils.checkpoint`` around every
residual block), ``bf16`` (``torch.autocast``), ``ckpt_bf16``, and the save modes of
:mod:`model.nn` (``stoch``, ``det``, ``det_mse``, ``stoch_bf16``). A second part times
one step of every variant, interleaved round by round in one process, and reports each
median as a ratio to ``fp32``. Prints two tables; writes
``bench/results/peak_memory.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from model.nn.layers import SAVE_MODES
from model.nn.wrn import Block, wrn20

from ._report import parse_args, save, table

#: Variant name: (save mode, checkpoint every block, bf16 autocast).
VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "fp32": ("fp32", False, False),
    "ckpt": ("fp32", True, False),
    "bf16": ("fp32", False, True),
    "ckpt_bf16": ("fp32", True, True),
    **{m: (m, False, False) for m in SAVE_MODES if m != "fp32"},
    "stoch_bf16": ("stoch", False, True),
}

#: What the CPU measurement asks of glibc (see the module doc).
CPU_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


class _Checkpointed(nn.Module):
    """A residual block recomputed in backward (``torch.utils.checkpoint``)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpoint(self.block, x, use_reentrant=False)


def build(variant: str, width: int, device: str) -> tuple[nn.Module, Callable[..., object]]:
    """WRN-20-``width`` for ``variant`` and the context its forward runs under."""
    save_mode, ckpt, bf16 = VARIANTS[variant]
    torch.manual_seed(0)
    net = wrn20(width, 10, save_mode)
    if ckpt:
        net.blocks = nn.Sequential(
            *(_Checkpointed(b) if isinstance(b, Block) else b for b in net.blocks)
        )
    kind = "cuda" if device.startswith("cuda") else "cpu"

    def ctx() -> contextlib.AbstractContextManager:
        if bf16:
            return torch.autocast(kind, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    return net.to(device).train(), ctx


def _stepper(variant: str, width: int, batch: int, device: str) -> Callable[[], None]:
    net, ctx = build(variant, width, device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator(device=device).manual_seed(1)
    images = torch.randint(
        0, 256, (batch, 3, 32, 32), dtype=torch.uint8, device=device, generator=gen
    )
    labels = torch.randint(0, 10, (batch,), device=device, generator=gen)

    def step() -> None:
        with ctx():
            loss = F.cross_entropy(net(images), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rise(variant: str, width: int, batch: int, device: str) -> int:
    """Bytes by which one training step of ``variant`` raises the peak (after a warm-up)."""
    step = _stepper(variant, width, batch, device)
    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    step()
    return (_status_kib("VmHWM") - before) * 1024


def _child(variant: str, width: int, batch: int, device: str) -> int:
    """Measure ``variant`` in a fresh interpreter (its own allocator and high-water mark)."""
    env = {**os.environ, **({} if device.startswith("cuda") else CPU_ENV)}
    argv = [
        sys.executable,
        "-m",
        "bench.peak_memory",
        "--child",
        variant,
        "--widths",
        str(width),
        "--batch",
        str(batch),
        "--device",
        device,
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr.strip()}")
    return int(json.loads(done.stdout)["peak_rise_bytes"])


def step_times(width: int, batch: int, device: str, rounds: int) -> dict[str, list[float]]:
    """Seconds of one step of every variant, interleaved for ``rounds`` rounds."""
    steps = {v: _stepper(v, width, batch, device) for v in VARIANTS}
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        for v, step in steps.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[v].append(time.perf_counter() - t0)
        print(f"  timing round {r + 1}/{rounds}", file=sys.stderr)
    return times


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.peak_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--widths", type=int, nargs="+", default=[4, 10], help="WRN-20-k widths (default 4 10)"
    )
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="timed steps per variant, width 4 only (default 5; 0 skips)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        metavar="V",
        help=f"default all: {' '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu or cuda (default cuda if available)",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON path (default bench/results/peak_memory.json)"
    )
    parser.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parse_args(parser, argv, "peak_memory")
    if args.batch < 1 or min(args.widths) < 1 or args.rounds < 0:
        parser.error("--widths and --batch must be positive and --rounds >= 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here")
    if args.child:
        rise = peak_rise(args.child, args.widths[0], args.batch, args.device)
        print(json.dumps({"peak_rise_bytes": rise}))
        return 0
    rows = []
    for width in args.widths:
        base = None
        for v in args.variants:
            print(f"WRN-20-{width}, batch {args.batch}, {v} ...", file=sys.stderr)
            rise = _child(v, width, args.batch, args.device)
            base = base or rise
            rows.append(
                {
                    "width": width,
                    "variant": v,
                    "peak_rise_MiB": round(rise / 2**20, 1),
                    "fp32_over_variant": round(base / rise, 2),
                }
            )
    print(table(rows, ["width", "variant", "peak_rise_MiB", "fp32_over_variant"]))
    timing = []
    if args.rounds:
        times = step_times(args.widths[0], args.batch, args.device, args.rounds)
        base = statistics.median(times[args.variants[0]])
        for v in args.variants:
            med = statistics.median(times[v])
            timing.append(
                {
                    "width": args.widths[0],
                    "variant": v,
                    "median_ms": round(1e3 * med, 1),
                    "over_fp32": round(med / base, 3),
                }
            )
        print(table(timing, ["width", "variant", "median_ms", "over_fp32"]))
    path = save(
        "peak_memory",
        rows,
        args.out,
        batch=args.batch,
        device=args.device,
        cpu_env=CPU_ENV,
        timing=timing,
        threads=torch.get_num_threads(),
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training loop behind ``python -m model.train``: WRN-20-k, SGD, cosine schedule.

McDonnell's recipe (ICLR 2018): SGD with momentum 0.9, weight decay 5e-4 on the
convolution weights, batch 125, learning rate 0.1 annealed by a cosine (``--restarts``:
warm restarts after 1, 2, 4, ... epochs, as McDonnell does), random crops and flips
(``--cutout`` optional). Progress goes to stderr; the result is one JSON file with
``test_acc``. A checkpoint is written atomically after every epoch; ``--resume`` goes on
from it. ``--amp bf16`` runs the forward pass under ``torch.autocast`` (the stored bits
are the same).

Under ``torchrun --nproc_per_node N -m model.train ...`` it trains with
DistributedDataParallel (gloo on CPU, nccl on CUDA): ``--batch`` stays the global batch,
each rank takes its share of every batch (the same shuffle on every rank, a slice each),
batch norms use the statistics of the global batch, each rank draws its own random bits,
and rank 0 alone prints, checkpoints and writes the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from fileio import OutputError, check_output, write_atomic
from spec import SOURCES, BinarizerSpec

from ..lfsr import CodeStream
from .data import DATASETS, Dataset, DatasetError, augment, batches, download, load
from .layers import SAVE_MODES
from .quant import random_source
from .wrn import wrn20

__all__ = ["build_parser", "evaluate", "lr_at", "main", "train"]

#: Arguments a checkpoint must agree on to be resumed.
_RUN_KEYS = (
    "dataset",
    "width",
    "epochs",
    "save",
    "binary_weights",
    "seed",
    "batch",
    "lr",
    "restarts",
    "cutout",
    "train_subset",
    "test_subset",
    "amp",
    "random",
)

#: ``--random`` choices: torch's RNG, or a gateware random source (``spec.SOURCES``).
RANDOM_SOURCES = ("torch", *SOURCES)

#: Autocast dtypes ``--amp`` accepts.
AMP_DTYPES = {"bf16": torch.bfloat16}


@dataclass(frozen=True)
class Ranks:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process prints and writes files."""
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This rank's slice of a global batch of ``n`` (sizes differ by at most one)."""
        lo, hi = self.rank * n // self.world, (self.rank + 1) * n // self.world
        return slice(lo, hi)

    @classmethod
    def start(cls, device: str) -> Ranks:
        """Join the process group that ``torchrun`` describes in the environment, if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if device.startswith("cuda"):  # nccl wants each rank's GPU chosen first
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        return cls.current()

    @classmethod
    def current(cls) -> Ranks:
        """The process group already joined (rank 0 of 1 without one)."""
        if not dist.is_initialized():
            return cls()
        return cls(dist.get_rank(), dist.get_world_size())


def lr_at(epoch: float, epochs: int, base: float, restarts: bool) -> float:
    """Learning rate at fractional ``epoch``: a cosine from ``base`` to 0 over the run,
    or, with ``restarts``, over periods of 1, 2, 4, ... epochs (SGDR)."""
    if restarts:
        period = 1.0
        while epoch >= period:
            epoch -= period
            period *= 2
        return base * 0.5 * (1 + math.cos(math.pi * epoch / period))
    return base * 0.5 * (1 + math.cos(math.pi * min(epoch / epochs, 1.0)))


def evaluate(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: str) -> float:
    """Accuracy of ``net`` (evaluation mode, running statistics) on ``x``, ``y``."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in batches(x, y, 500):
            correct += int((net(xb.to(device)).argmax(1).cpu() == yb).sum())
    return correct / len(y)


class _Progress:
    """One line per epoch; a live bar on a terminal, elsewhere (a log file) a line every
    :attr:`EVERY` seconds within an epoch."""

    EVERY = 30.0

    def __init__(self, total: int, epoch: int, epochs: int, live: bool = True) -> None:
        self.total, self.epoch, self.epochs = total, epoch, epochs
        self.shown = live
        self.live = live and sys.stderr.isatty()
        self.t0 = self.last = time.perf_counter()

    def update(self, done: int, loss: float) -> None:
        now = time.perf_counter()
        if self.shown and not self.live and now - self.last >= self.EVERY:
            self.last = now
            print(
                f"epoch {self.epoch + 1}/{self.epochs}: {done}/{self.total} batches, "
                f"loss {loss:.3f} ({now - self.t0:.0f} s)",
                file=sys.stderr,
            )
        if self.live:
            bar = "#" * (20 * done // self.total)
            sys.stderr.write(
                f"\repoch {self.epoch + 1}/{self.epochs} [{bar:<20}] {done}/{self.total} "
                f"loss {loss:.3f}"
            )
            sys.stderr.flush()

    def end(self, message: str) -> None:
        dt = time.perf_counter() - self.t0
        prefix = "\r" if self.live else ""
        print(
            f"{prefix}epoch {self.epoch + 1}/{self.epochs} {message} ({dt:.1f} s)", file=sys.stderr
        )


def _optimizer(net: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    conv = [p for p in net.parameters() if p.dim() == 4]
    other = [p for p in net.parameters() if p.dim() != 4]
    return torch.optim.SGD(
        [{"params": conv, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0.0}],
        lr=lr,
        momentum=0.9,
    )


def code_stream(source: str, seed: int, rank: int = 0) -> CodeStream | None:
    """``--random``'s stream of codes: ``None`` for torch's RNG, else a bank of
    :class:`spec.BinarizerSpec`'s default shape (32 lanes, 8-bit codes) on ``source``
    whose LFSR seed is drawn from the run's ``seed`` and the ``rank`` (nearby seeds are
    nearby phases of the shared source, so they are not used as they are)."""
    if source == "torch":
        return None
    spec = BinarizerSpec(source=source)
    draw = random.Random(f"model.train {seed} {rank}").getrandbits(spec.seed_bits) or 1
    return CodeStream(replace(spec, seed=draw))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path`` (loaded to the CPU).

    Raises
    ------
    ValueError
        ``path`` is not a checkpoint this program wrote (corrupt, truncated, another file).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises pickle, zip and runtime errors alike
        raise ValueError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not {"run", "net", "opt", "epoch"} <= state.keys():
        raise ValueError(f"checkpoint {path} is not a model.train checkpoint")
    return state


def train(
    args: argparse.Namespace,
    data: Dataset,
    log: Any = print,
    state: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], torch.nn.Module]:
    """Train per ``args`` (the parsed command line) on ``data``, going on from the
    checkpoint ``state`` when given (it may have fewer epochs than ``args``: the run is
    extended); return the result (what ``--out`` holds) and the trained network."""
    run = {k: getattr(args, k) for k in _RUN_KEYS}
    ranks = Ranks.current()
    device = args.device
    torch.manual_seed(args.seed)
    model = wrn20(args.width, data.num_classes, args.save, args.binary_weights).to(device)
    opt = _optimizer(model, args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    stream = code_stream(args.random, args.seed)
    history: list[dict[str, float]] = []
    start, seconds = 0, 0.0
    ckpt = args.checkpoint
    if state is not None:
        diff = [k for k in _RUN_KEYS if k != "epochs" and state["run"].get(k) != run[k]]
        if diff:
            raise ValueError(f"checkpoint {ckpt} is for another run (differs in {diff})")
        if state["epoch"] > args.epochs:
            raise ValueError(
                f"checkpoint {ckpt} already has {state['epoch']} epochs, more than "
                f"--epochs {args.epochs}"
            )
        model.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        if stream is not None:
            stream.load_state_dict(state["codes"])
        start, history, seconds = state["epoch"], state["history"], state["seconds"]
        log(f"resumed from {ckpt} after epoch {start}")
        if state["run"]["epochs"] != args.epochs:
            log(f"extending the run from {state['run']['epochs']} to {args.epochs} epochs")
    if ranks.rank:  # every rank its own random bits (the data order stays shared)
        torch.manual_seed(args.seed + 1_000_003 * ranks.rank + 7919 * start)
        stream = code_stream(args.random, args.seed + 7919 * start, ranks.rank)
    net: torch.nn.Module = model
    if ranks.world > 1:
        net = DistributedDataParallel(model, device_ids=[device] if device != "cpu" else None)
    amp = AMP_DTYPES.get(args.amp) if args.amp else None
    kind = "cuda" if device.startswith("cuda") else "cpu"
    steps = math.ceil(len(data.train_y) / args.batch)
    with random_source(stream):
        for epoch in range(start, args.epochs):
            net.train()
            bar = _Progress(steps, epoch, args.epochs, live=ranks.main)
            t0 = time.perf_counter()
            total, count = 0.0, 0
            for i, (xb, yb) in enumerate(batches(data.train_x, data.train_y, args.batch, gen)):
                for group in opt.param_groups:
                    group["lr"] = lr_at(epoch + i / steps, args.epochs, args.lr, args.restarts)
                xb = augment(xb, gen, flip=data.flip, cutout=args.cutout)
                mine = ranks.share(len(yb))
                xl, yl = xb[mine].to(device), yb[mine].to(device)
                autocast = torch.autocast(kind, dtype=amp) if amp else contextlib.nullcontext()
                with autocast:
                    # DDP averages gradients over ranks: weigh each rank's sum by its share.
                    loss = F.cross_entropy(net(xl), yl, reduction="sum") * (ranks.world / len(yb))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, count = total + loss.item() * len(yb) / ranks.world, count + len(yl)
                bar.update(i + 1, total / count)
            seconds += time.perf_counter() - t0
            acc = evaluate(model, data.test_x, data.test_y, device)
            history.append({"epoch": epoch + 1, "train_loss": total / count, "test_acc": acc})
            if ranks.main:
                bar.end(f"loss {total / count:.4f} test_acc {acc:.4f}")
            if ckpt is not None and ranks.main:
                buf = io.BytesIO()
                torch.save(
                    {
                        "run": run,
                        "net": model.state_dict(),
                        "opt": opt.state_dict(),
                        "gen": gen.get_state(),
                        "torch_rng": torch.get_rng_state(),
                        "codes": None if stream is None else stream.state_dict(),
                        "epoch": epoch + 1,
                        "history": history,
                        "seconds": seconds,
                    },
                    buf,
                )
                write_atomic(ckpt, buf.getvalue())
    return {
        **run,
        "test_acc": history[-1]["test_acc"]
        if history
        else evaluate(model, data.test_x, data.test_y, device),
        "history": history,
        "train_seconds": round(seconds, 2),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "train_images": len(data.train_y),
        "test_images": len(data.test_y),
        "ranks": ranks.world,
    }, model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m model.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", choices=DATASETS, default="digits", help="default digits")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="folder holding the CIFAR python pickles (default ./data)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="fetch the official CIFAR archive into --data-dir first (once; MD5 checked)",
    )
    p.add_argument("--width", type=int, default=1, help="WRN-20-k width k (default 1)")
    p.add_argument("--epochs", type=int, default=10, help="default 10")
    p.add_argument(
        "--save",
        choices=SAVE_MODES,
        default="stoch",
        help="what training keeps for backward (default stoch)",
    )
    p.add_argument("--binary-weights", action="store_true", help="1-bit weights")
    p.add_argument(
        "--amp",
        choices=sorted(AMP_DTYPES),
        help="run the forward pass under torch.autocast in this dtype (default off)",
    )
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument(
        "--random",
        choices=RANDOM_SOURCES,
        default="torch",
        help="where stochastic bits' random numbers come from: torch's RNG (16 bits), or "
        "the gateware's LFSR bank, one per lane (lanes) or one shared (shared), 32 lanes "
        "of 8-bit codes (default torch)",
    )
    p.add_argument("--batch", type=int, default=125, help="default 125")
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (default 0.1)")
    p.add_argument("--restarts", action="store_true", help="cosine with warm restarts")
    p.add_argument("--cutout", type=int, default=0, help="cutout square side (default off)")
    p.add_argument("--train-subset", type=int, help="use the first N training images")
    p.add_argument("--test-subset", type=int, help="use N test images drawn at random (seed 0)")
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (default cuda if available, else cpu)",
    )
    p.add_argument("--out", type=Path, help="result JSON (holds test_acc)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file, written every epoch")
    p.add_argument(
        "--resume",
        action="store_true",
        help="go on from --checkpoint (also: extend a finished run to more --epochs)",
    )
    p.add_argument(
        "--export", type=Path, help="write the trained binary weights in the hardware format (.npz)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("width", "epochs", "batch", "train_subset", "test_subset"):
        v = getattr(args, name)
        if v is not None and v < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, not {v}")
    if args.cutout < 0 or args.lr <= 0:
        parser.error("--cutout must be >= 0 and --lr positive")
    if args.resume and args.checkpoint is None:
        parser.error("--resume needs --checkpoint")
    if args.random != "torch" and args.save != "stoch":
        parser.error(f"--random {args.random} is where --save stoch draws its bits: "
                     f"--save {args.save} draws none")  # fmt: skip
    if args.export is not None and not args.binary_weights:
        parser.error("--export writes binary weights: add --binary-weights")
    _check_device(parser, args.device)
    _check_size(parser, args)
    for option in ("out", "checkpoint", "export"):
        path = getattr(args, option)
        if path is not None:
            try:
                check_output(path, f"--{option}")
            except OutputError as e:
                parser.error(str(e))
    state = None
    if args.resume:
        if args.checkpoint.exists():
            try:
                state = read_checkpoint(args.checkpoint)
            except ValueError as e:
                parser.error(f"--checkpoint: {e}; delete it or drop --resume to start afresh")
        else:
            print(f"no checkpoint at {args.checkpoint} yet: starting from scratch", file=sys.stderr)
    if args.download and args.dataset == "digits":
        parser.error("--download is for cifar10 and cifar100: digits ship with scikit-learn")
    try:
        if args.download:
            download(args.dataset, args.data_dir)
        data = load(args.dataset, args.data_dir).subset(args.train_subset, args.test_subset)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ranks = Ranks.start(args.device)
    try:
        return _run(args, data, ranks, state)
    except KeyboardInterrupt:
        if args.checkpoint is not None and args.checkpoint.exists():
            how = f"{args.checkpoint} holds the last finished epoch: add --resume to go on"
        else:
            how = "nothing was saved (--checkpoint FILE keeps every finished epoch)"
        print(f"\ninterrupted: {how}", file=sys.stderr)
        return 130
    finally:
        if ranks.world > 1:
            dist.destroy_process_group()


def _check_device(parser: argparse.ArgumentParser, device: str) -> None:
    """Exit 2 unless ``device`` names a device this torch can use."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        parser.error(f"--device {device}: not a torch device; use cpu or cuda")
    if kind == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {device}: this torch ({torch.__version__}) sees no CUDA GPU")
    if kind not in ("cpu", "cuda"):
        parser.error(f"--device {device}: training runs on cpu or cuda")


def _check_size(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit 2 if the network and one training step clearly cannot fit in this machine's
    memory (weights, gradients, momentum, and the estimator's peak of a step)."""
    from estimator.memory import step_peak_bytes
    from estimator.network import wrn

    try:
        net = wrn(20, args.width, 100 if args.dataset == "cifar100" else 10)
    except ValueError as e:
        parser.error(f"--width {args.width}: {e}")
    need = 3 * 4 * net.params + step_peak_bytes(net, args.batch, args.save)
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > have:
        parser.error(
            f"--width {args.width} with --batch {args.batch}: a training step needs about "
            f"{need / 2**30:,.1f} GiB, more than this machine's {have / 2**30:,.1f} GiB"
        )


def _run(
    args: argparse.Namespace, data: Dataset, ranks: Ranks, state: dict[str, Any] | None
) -> int:
    """Train, then (rank 0) report, export and write the result."""
    if ranks.world > 1 and args.device.startswith("cuda"):
        args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(args.device)

    def log(message: str) -> None:
        if ranks.main:
            print(message, file=sys.stderr)

    log(
        f"{data.name}: {len(data.train_y)} train / {len(data.test_y)} test images; "
        f"WRN-20-{args.width}, save={args.save}, binary_weights={args.binary_weights}, "
        f"amp={args.amp or 'off'}, random={args.random}, {args.epochs} epochs on {args.device}"
        + (f", {ranks.world} ranks" if ranks.world > 1 else "")
    )
    try:
        result, net = train(args, data, log=log, state=state)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not ranks.main:
        return 0
    print(f"test_acc {result['test_acc']:.4f}")
    if args.export is not None:
        from .export import check_layer, export_weights

        export_weights(net, args.export)
        check = check_layer(net, data.test_x[:8].to(args.device))
        result["export"] = {"path": str(args.export), "check": check}
        print(f"exported {args.export}; {check['summary']}", file=sys.stderr)
    if args.out is not None:
        write_atomic(args.out, (json.dumps(result, indent=2) + "\n").encode())
        print(f"wrote {args.out}", file=sys.stderr)
    return 0

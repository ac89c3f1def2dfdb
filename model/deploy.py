"""``python -m model.deploy``: a trained binary-weight WRN as an integer network.

Reads a checkpoint of ``python -m model.train --binary-weights --checkpoint run.pt``,
calibrates each hidden activation's step on training images, writes the integer network
(``docs/formats.md``, "Integer network"; :mod:`model.intnet`) and prints the float and
integer networks' test accuracy on the dataset the checkpoint was trained on:

    python -m model.deploy run.pt --out net.npz --data-dir data
    python -m model.deploy run.pt --out net4.npz --act-bits 4 --data-dir data

Calibration: the first ``--calibration-images`` (default 512) training images of the
run's training split, unaugmented, through the float network; each batch norm + ReLU
output's step is the one of least squared quantization error over 64 candidate
clipping levels. Everything else is exact arithmetic on the trained numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fileio import OutputError, check_output, write_atomic
from spec import IntNetSpec, WeightEncoding

from .infer import run
from .intnet import IntNetwork, Requant
from .nn.data import Dataset, DatasetError, load
from .nn.export import filter_bits
from .nn.layers import BnReluConv
from .nn.train import read_checkpoint
from .nn.wrn import WideResNet, wrn20

__all__ = ["accuracy", "convert", "evaluate", "main", "open_checkpoint"]

#: Integer logits are the float logits in units of 2**-LOGIT_FRACTION_BITS.
LOGIT_FRACTION_BITS = 8
#: Activation code widths the format and the engine take.
ACT_BITS_RANGE = range(1, 9)
#: Values per layer kept for choosing its step (a random sample beyond that).
_SAMPLE = 1 << 18


def _fixed(values: np.ndarray, offsets: np.ndarray, mult_bits: int) -> Requant:
    """``floor((x * M + C) / 2**s)`` approximating ``x * values + offsets`` to the
    nearest integer (``offsets`` include the ``+0.5`` of rounding): the largest shift
    whose multipliers fit ``mult_bits`` signed bits."""
    values, offsets = np.atleast_1d(values), np.atleast_1d(offsets)
    top = float(np.abs(values).max())
    if not top > 0:
        raise ValueError("a requantization has all-zero multipliers (a dead layer)")
    shift = max(0, min(62, math.floor(math.log2(((1 << (mult_bits - 1)) - 1) / top))))
    while shift and np.abs(np.round(values * 2.0**shift)).max() >= 1 << (mult_bits - 1):
        shift -= 1
    mult = np.round(values * 2.0**shift).astype(np.int64)
    add = np.floor(offsets * 2.0**shift + 0.5).astype(np.int64)
    return Requant(mult, add, shift)


def _step(r: np.ndarray, q_max: int) -> float:
    """The step ``d`` minimising ``mean((r - d * clamp(round(r / d), 0, q_max))**2)``
    over 64 clipping levels between 2 % and 100 % of ``max(r)``."""
    top = float(r.max())
    if top <= 0:
        return 1.0  # a layer whose ReLU output is always 0: any step codes it exactly
    best = (math.inf, top / q_max)
    for clip in np.linspace(0.02, 1.0, 64) * top:
        d = clip / q_max
        err = float(np.mean((r - d * np.clip(np.round(r / d), 0, q_max)) ** 2))
        best = min(best, (err, d))
    return best[1]


def _calibrate(net: WideResNet, images: torch.Tensor, q_max: int) -> dict[str, float]:
    """Each BN-ReLU-conv layer's activation step, from ``images`` through ``net``."""
    gen = np.random.default_rng(0)
    samples: dict[str, list[np.ndarray]] = {}
    hooks = []
    for name, mod in net.named_modules():
        if isinstance(mod, BnReluConv):

            def grab(m: BnReluConv, inputs: tuple, name: str = name) -> None:
                x = inputs[0]
                r = F.relu(F.batch_norm(x, m.running_mean, m.running_var, eps=m.eps))
                flat = r.detach().flatten().numpy()
                if flat.size > _SAMPLE:
                    flat = gen.choice(flat, _SAMPLE, replace=False)
                samples.setdefault(name, []).append(flat)

            hooks.append(mod.register_forward_pre_hook(grab))
    try:
        with torch.no_grad():
            for start in range(0, len(images), 128):
                net(images[start : start + 128])
    finally:
        for h in hooks:
            h.remove()
    return {name: _step(np.concatenate(parts), q_max) for name, parts in samples.items()}


def _sigma(mod: torch.nn.Module) -> np.ndarray:
    return np.sqrt(mod.running_var.double().numpy() + mod.eps)


def _bn_relu(mod: BnReluConv, scale: float, step: float, mult_bits: int) -> Requant:
    """The rule for ``mod``'s batch norm + ReLU + step ``step`` on integers of scale
    ``scale``: ``q = clamp(round((scale * x - mean) / (sigma * step)), 0, Q)``."""
    sigma, mean = _sigma(mod), mod.running_mean.double().numpy()
    return _fixed(scale / (sigma * step), 0.5 - mean / (sigma * step), mult_bits)


def convert(
    net: WideResNet,
    calibration: torch.Tensor,
    *,
    act_bits: int = 8,
    meta: dict[str, Any] | None = None,
) -> IntNetwork:
    """The integer network of ``net`` (binary weights, eval-mode batch norm), its steps
    calibrated on ``calibration`` (``uint8`` NCHW training images).

    Raises
    ------
    ValueError
        ``net`` was not trained with binary weights, or its numbers break the format.
    """
    if not net.binary_weights:
        raise ValueError("only a network trained with binary weights deploys")
    net = net.eval()
    blocks = len(net.blocks) // 3
    s = IntNetSpec(
        width=net.stem.weight.shape[0] // 16,
        blocks=blocks,
        in_channels=net.stem.weight.shape[1],
        num_classes=net.head.weight.shape[0],
        image_size=int(calibration.shape[-1]),
        act_bits=act_bits,
    )
    q_max = (1 << act_bits) - 1
    steps = _calibrate(net, calibration, q_max)
    mods = dict(net.named_modules())
    bits = {c.name: filter_bits(mods[c.name].weight) for c in s.convs()}
    alpha = {c.name: WeightEncoding.alpha(c.fan_in) for c in s.convs()}
    requant: dict[str, Requant] = {}

    # The stem: z = a * pixel + b per input channel, coded with one step over all
    # channels and a zero point, so that padding with the zero point is padding with 0.
    stem = net.stem
    sigma = _sigma(stem)
    a = stem.gamma.detach().double().numpy() / sigma
    b = stem.beta.detach().double().numpy() - a * stem.running_mean.double().numpy()
    ends = np.concatenate([b, 255 * a + b, [0.0]])
    d0 = (ends.max() - ends.min()) / 255 or 1.0
    zero = int(np.clip(np.round(-ends.min() / d0), 0, 255))
    requant["stem.in"] = _fixed(a / d0, b / d0 + zero + 0.5, s.mult_bits)
    stem_bias = -zero * (2 * bits["stem"].astype(np.int64) - 1).sum(axis=1)
    scale = alpha["stem"] * d0  # the stream's scale

    for k, name in enumerate(s.block_names()):
        c1, c2 = f"{name}.conv1", f"{name}.conv2"
        requant[f"{c1}.in"] = _bn_relu(mods[c1], scale, steps[c1], s.mult_bits)
        a1_scale = alpha[c1] * steps[c1]
        requant[f"{c2}.in"] = _bn_relu(mods[c2], a1_scale, steps[c2], s.mult_bits)
        if s.is_pool_block(k):
            scale /= 9
        ratio = alpha[c2] * steps[c2] / scale
        requant[f"{name}.add"] = _fixed(np.array([ratio]), np.array([0.5]), s.mult_bits)

    requant["head.in"] = _bn_relu(mods["head"], scale, steps["head"], s.mult_bits)
    unit = 2.0**-LOGIT_FRACTION_BITS
    sigma, mean = _sigma(net.head_bn), net.head_bn.running_mean.double().numpy()
    head_scale = alpha["head"] * steps["head"] / s.positions
    requant["logits"] = _fixed(
        head_scale / (sigma * unit), 0.5 - mean / (sigma * unit), s.mult_bits
    )

    info = dict(meta or {})
    info["steps"] = {"stem.in": d0, **steps}
    info["logit_unit"] = unit
    out = IntNetwork(s, bits, requant, zero, stem_bias, info)
    out.check()
    return out


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return float(100.0 * np.mean(np.argmax(logits, axis=1) == labels))


def _float_logits(net: WideResNet, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([net(images[i : i + 256]) for i in range(0, len(images), 256)]).numpy()


def _network(state: dict[str, Any], path: Path, num_classes: int) -> WideResNet:
    run_args = state["run"]
    if not run_args.get("binary_weights"):
        raise ValueError(
            f"checkpoint {path} was trained without --binary-weights: only binary-weight "
            f"networks deploy"
        )
    net = wrn20(int(run_args["width"]), num_classes, "fp32", True)
    try:
        net.load_state_dict(state["net"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1].strip()
        raise ValueError(f"checkpoint {path} does not hold a WRN-20 of its run: {first}") from None
    return net.eval()


def open_checkpoint(path: Path, data_dir: Path) -> tuple[WideResNet, Dataset, dict[str, Any]]:
    """The trained network of checkpoint ``path``, the data of its run (its dataset and
    subsets; CIFAR from ``data_dir``) and its provenance for an integer network's
    ``meta``.

    Raises
    ------
    ValueError, DatasetError
        A missing, corrupt or non-binary checkpoint, one whose weights do not fit its
        run, or missing data.
    """
    if not Path(path).is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    state = read_checkpoint(path)
    run_args = state["run"]
    data = load(run_args["dataset"], data_dir).subset(
        run_args.get("train_subset"), run_args.get("test_subset")
    )
    net = _network(state, path, data.num_classes)
    source = {
        "checkpoint": Path(path).name,
        "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "run": run_args,
    }
    return net, data, {"source": source}


def evaluate(net: WideResNet, int_net: IntNetwork, data: Dataset) -> dict[str, Any]:
    """Float and integer test accuracy (percent) and their top-1 agreement on
    ``data``'s test split, with the integer network's sizes."""
    labels = data.test_y.numpy()
    float_logits = _float_logits(net, data.test_x)
    int_logits = run(int_net, data.test_x.numpy())
    return {
        "dataset": data.name,
        "test_images": len(labels),
        "act_bits": int_net.spec.act_bits,
        "float_acc": round(accuracy(float_logits, labels), 2),
        "int_acc": round(accuracy(int_logits, labels), 2),
        "top1_agreement": round(
            float(100 * np.mean(float_logits.argmax(1) == int_logits.argmax(1))), 2
        ),
        "weight_bytes": int_net.weight_bytes(),
        "integer_bytes": int_net.integer_bytes(),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (2 for bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m model.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", type=Path, help="a model.train --checkpoint file")
    parser.add_argument("--out", type=Path, required=True, help="integer network file (.npz)")
    parser.add_argument(
        "--act-bits", type=int, default=8, help="hidden activation code width, 1..8 (default 8)"
    )
    parser.add_argument(
        "--calibration-images", type=int, default=512,
        help="training images that set the activation steps (default 512)",
    )  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="where CIFAR lives (default ./data)")  # fmt: skip
    parser.add_argument("--report", type=Path, help="also write the accuracy figures as JSON")
    args = parser.parse_args(argv)
    if args.act_bits not in ACT_BITS_RANGE:
        parser.error(f"--act-bits must be in 1..8, not {args.act_bits}")
    if args.calibration_images < 1:
        parser.error(f"--calibration-images must be at least 1, not {args.calibration_images}")
    try:
        check_output(args.out, "--out")
        if args.report is not None:
            check_output(args.report, "--report")
    except OutputError as e:
        parser.error(str(e))
    try:
        net, data, meta = open_checkpoint(args.checkpoint, args.data_dir)
    except (ValueError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    calib = data.train_x[: args.calibration_images]
    print(f"calibrating {args.act_bits}-bit activations on {len(calib)} training images",
          file=sys.stderr)  # fmt: skip
    meta["calibration_images"] = len(calib)
    try:
        int_net = convert(net, calib, act_bits=args.act_bits, meta=meta)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    int_net.save(args.out)
    print(f"wrote {args.out}: {int_net.weight_bytes():,} bytes of weights, "
          f"{int_net.integer_bytes():,} of per-channel integers", file=sys.stderr)  # fmt: skip
    n = len(data.test_y)
    print(f"evaluating the float and the integer network on {n} test images", file=sys.stderr)
    figures = evaluate(net, int_net, data)
    print(
        f"float {figures['float_acc']:.2f} %, integer ({args.act_bits}-bit) "
        f"{figures['int_acc']:.2f} %, top-1 agreement {figures['top1_agreement']:.2f} % "
        f"on {n} {data.name} test images"
    )
    if args.report is not None:
        write_atomic(args.report, (json.dumps(figures, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m estimator``: memory, energy and FPGA resources of one configuration.

Training memory of WRN-(6n+2)-k per layer (weights, gradients, optimizer state, saved
activations in every save mode), inference memory and whether it fits the board's block
RAM, operations and energy per image (``--energy-table`` overrides the cited defaults),
and the LUT/FF/BRAM cost of the datapath from a model calibrated on the project's Yosys
runs. ``--json`` prints one JSON object instead of the report. For a grid of
configurations with plots, see ``python -m estimator.sweep``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .core import Config, estimate
from .energy import EnergyTable
from .fpga import BOARDS, CostModel
from .memory import SAVE_MODES

#: Board names accepted; ``arty_a7`` is the 35T (as ``python -m hw.build`` builds it).
BOARD_ALIASES = {"arty_a7": "arty_a7_35", **{b: b for b in BOARDS}}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that make a :class:`~estimator.core.Config` (shared with the sweep)."""
    d = Config()
    parser.add_argument("--depth", type=int, default=d.depth, help="WRN depth 6n+2 (default 20)")
    parser.add_argument("--classes", type=int, default=d.num_classes, help="default 10")
    parser.add_argument("--input-size", type=int, default=d.size, help="image side (default 32)")
    parser.add_argument(
        "--weights",
        type=int,
        choices=(1, 32),
        default=d.weight_bits,
        help="bits per weight (default 32)",
    )
    parser.add_argument(
        "--save",
        choices=SAVE_MODES,
        default=d.save,
        help="saved-activation mode for the totals (default stoch)",
    )
    parser.add_argument("--act-bits", type=int, default=d.act_bits, help="default 8")
    parser.add_argument(
        "--word-bits",
        type=int,
        help="SRAM word: 8, 16, 32 or 64 (default 32, or --lanes when that is wider)",
    )
    parser.add_argument("--sram-depth", type=int, default=d.sram_depth, help="default 1024")
    parser.add_argument("--clock-mhz", type=float, default=d.clock_mhz, help="default 100")
    parser.add_argument(
        "--board",
        choices=sorted(BOARD_ALIASES),
        default="arty_a7",
        help="default arty_a7 (the 35T)",
    )
    parser.add_argument(
        "--energy-table", type=Path, help="JSON of picojoule entries replacing the defaults"
    )
    parser.add_argument(
        "--engine-lanes",
        type=int,
        default=d.engine_lanes,
        help="inference engine lanes, a power of two up to 64 (default 16)",
    )
    parser.add_argument(
        "--engine-stream-bits",
        type=int,
        default=d.engine_stream_bits,
        help="width the engine's stream buffers are priced at (default 32, the format's "
        "cap; a trained network's bounds set it in the gateware, e.g. 26 for WRN-20-1)",
    )


def config_from(args: argparse.Namespace, **over: Any) -> Config:
    """A :class:`Config` from parsed options, with ``over`` replacing fields."""
    fields = {
        "depth": args.depth,
        "num_classes": args.classes,
        "size": args.input_size,
        "weight_bits": args.weights,
        "save": args.save,
        "act_bits": args.act_bits,
        "word_bits": args.word_bits,
        "sram_depth": args.sram_depth,
        "clock_mhz": args.clock_mhz,
        "board": BOARD_ALIASES[args.board],
        "engine_lanes": args.engine_lanes,
        "engine_stream_bits": args.engine_stream_bits,
    }
    for name in ("width", "batch", "lanes"):
        if hasattr(args, name):
            fields[name] = getattr(args, name)
    return Config(**{**fields, **over})


def _mib(n: float) -> str:
    return f"{n / 2**20:,.2f}"


def _rate(v: float) -> str:
    """A rate to three significant figures, with thousands separators when large."""
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def report(result: dict[str, Any]) -> str:
    """The human-readable report of :func:`estimate`'s result."""
    c = result["config"]
    lines = [
        f"WRN-{c['depth']}-{c['width']}, {c['num_classes']} classes, {c['size']}x{c['size']} "
        f"input, batch {c['batch']}: {result['params']:,} parameters",
        "",
        "Training memory per layer (MiB; saved activations per save mode):",
        f"{'layer':<18}{'weights':>9}{'grads':>9}{'momentum':>9}"
        + "".join(f"{'saved ' + m:>13}" for m in SAVE_MODES),
    ]
    for layer in result["layers"]:
        lines.append(
            f"{layer['name']:<18}{_mib(layer['weights']):>9}{_mib(layer['gradients']):>9}"
            f"{_mib(layer['optimizer']):>9}"
            + "".join(f"{_mib(layer['saved'][m]):>13}" for m in SAVE_MODES)
        )
    t = result["training_memory_bytes"]
    saved = result["saved_activation_bytes"]
    lines += [
        f"{'total':<18}{_mib(t['weights']):>9}{_mib(t['gradients']):>9}{_mib(t['optimizer']):>9}"
        + "".join(f"{_mib(saved[m]):>13}" for m in SAVE_MODES),
        "training total (with batch-norm buffers): "
        + ", ".join(f"{m} {_mib(v)} MiB" for m, v in t["total_by_mode"].items())
        + f"; saved activations fp32/stoch = {saved['fp32'] / saved['stoch']:.1f}x",
        "peak of a training step (rise over the state above; what a user sees): "
        + ", ".join(f"{m} {_mib(v)} MiB" for m, v in t["step_peak_rise_by_mode"].items())
        + "; under bf16 autocast: "
        + ", ".join(f"{m} {_mib(v)} MiB" for m, v in t["step_peak_rise_bf16_by_mode"].items()),
        "",
    ]
    inf, b = result["inference_memory_bytes"], result["board"]
    lines += [
        f"Inference ({c['weight_bits']}-bit weights, {c['act_bits']}-bit activations): "
        f"weights {inf['weights']:,} B, largest layer in+out {inf['activations']:,} B",
        f"{b['name']} ({b['device']}, {b['bram_bits'] // 1024:,} Kib block RAM): weights "
        f"{'fit' if b['weights_fit'] else 'do NOT fit'}, activations "
        f"{'fit' if b['activations_fit'] else 'do NOT fit'}, both "
        f"{'fit' if b['both_fit'] else 'do NOT fit'}",
        "",
    ]
    e = result["energy_pj_per_image"]
    lines.append(
        f"Energy per image: inference {e['inference']['total'] / 1e6:,.2f} uJ "
        f"(weights in {e['inference']['weights_in']}); training "
        + ", ".join(
            f"{m} {row['total'] / 1e6:,.1f} uJ (saved in {row['saved_in']})"
            for m, row in e["training"].items()
        )
    )
    f = result["fpga"]
    fit = "" if f["lut_fraction"] is None else f" ({100 * f['lut_fraction']:.1f} % of the LUTs)"
    lines += [
        f"Forward: {result['ops_per_image']['forward_macs']:,} MACs per image; "
        f"{result['datapath_cycles_per_image']:,} datapath cycles at {c['lanes']} lanes = "
        f"{_rate(result['datapath_images_per_s'])} images/s at {c['clock_mhz']:g} MHz",
        f"FPGA (xc7 model, {f['calibration_points']} calibration points): {f['lut']:,} LUT{fit}, "
        f"{f['ff']:,} FF, {f['bram36']:g} RAMB36",
    ]
    g = result["engine"]
    fits = "fit" if g["bram_fits"] and g["dsp_fits"] else "do NOT fit"
    lines.append(
        f"Inference engine ({g['lanes']} lanes, binary weights): {g['cycles_per_image']:,} "
        f"cycles per image = {_rate(g['images_per_s'])} images/s at {c['clock_mhz']:g} MHz, "
        f"array utilization {100 * g['utilization']:.1f} %; {g['bram36']:g} RAMB36 (stream "
        f"at {g['stream_bits']} bits) and {g['dsp']} DSP: {fits} the {b['name']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m estimator", description=__doc__)
    parser.add_argument("--width", type=int, default=1, help="WRN width k (default 1)")
    parser.add_argument("--batch", type=int, default=125, help="default 125")
    parser.add_argument(
        "--lanes", type=int, default=32, help="datapath lanes, 1 to 64 (default 32)"
    )
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        config = config_from(args)
        result = estimate(
            config, energy=EnergyTable.load(args.energy_table), costs=CostModel.load()
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

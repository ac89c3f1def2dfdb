"""``python -m estimator.sweep``: the estimator over a grid, as CSV and PNG plots.

Every combination of ``--widths``, ``--batches``, ``--lanes``, save mode and weight bits
(1 and 32) becomes one CSV row (training memory, saved activations, energy per image, FPGA LUT and
BRAM). Two plots: training memory against width per save mode (batch and lanes fixed at
the first values given), and training energy per image against training memory with the
Pareto front (the configurations no other beats on both). Where ``--word-bits`` is
narrower than a lane count, that point's SRAM word is widened to the lane count.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import sys
from pathlib import Path
from typing import Any

from fileio import check_output, write_atomic

from .__main__ import add_config_arguments, config_from
from .core import Config, estimate
from .energy import EnergyTable
from .fpga import CostModel
from .memory import SAVE_MODES

__all__ = ["main", "pareto", "sweep"]

COLUMNS = [
    "width",
    "batch",
    "lanes",
    "save",
    "weight_bits",
    "params",
    "training_bytes",
    "saved_activation_bytes",
    "inference_bytes",
    "training_uj_per_image",
    "inference_uj_per_image",
    "lut",
    "bram36",
]


def grid(args: argparse.Namespace) -> list[Config]:
    """Every grid point's configuration, checked (the first bad one raises ValueError)."""
    points = itertools.product(args.widths, args.batches, args.lanes, SAVE_MODES, (32, 1))
    return [
        config_from(
            args,
            width=width,
            batch=batch,
            lanes=lanes,
            save=save,
            weight_bits=bits,
            word_bits=max(args.word_bits or 32, lanes),
        )
        for width, batch, lanes, save, bits in points
    ]


def sweep(args: argparse.Namespace, progress: bool = True) -> list[dict[str, Any]]:
    """One row per grid point (see the module docstring)."""
    energy, costs = EnergyTable.load(args.energy_table), CostModel.load()
    configs = grid(args)
    rows = []
    for i, config in enumerate(configs, start=1):
        width, batch, lanes = config.width, config.batch, config.lanes
        save, bits = config.save, config.weight_bits
        r = estimate(config, energy=energy, costs=costs)
        rows.append(
            {
                "width": width,
                "batch": batch,
                "lanes": lanes,
                "save": save,
                "weight_bits": bits,
                "params": r["params"],
                "training_bytes": r["training_memory_bytes"]["total"],
                "saved_activation_bytes": r["saved_activation_bytes"][save],
                "inference_bytes": r["inference_memory_bytes"]["total"],
                "training_uj_per_image": round(
                    r["energy_pj_per_image"]["training"][save]["total"] / 1e6, 3
                ),
                "inference_uj_per_image": round(
                    r["energy_pj_per_image"]["inference"]["total"] / 1e6, 3
                ),
                "lut": r["fpga"]["lut"],
                "bram36": r["fpga"]["bram36"],
            }
        )
        if progress and (i % max(1, len(configs) // 10) == 0 or i == len(configs)):
            print(
                f"[{i}/{len(configs)}] up to WRN-20-{width}, batch {batch}, lanes {lanes}",
                file=sys.stderr,
            )
    return rows


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats or equals on both coordinates
    (smaller is better), in increasing first coordinate."""
    order = sorted(range(len(points)), key=lambda i: points[i])
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def _plots(rows: list[dict[str, Any]], out: Path, batch: int, lanes: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    # The bit-saving modes keep the same bytes: distinct markers and dashes, and a note.
    styles = zip(SAVE_MODES, ("o", "s", "x", "+"), ("-", "--", ":", "-."), strict=True)
    for save, marker, dash in styles:
        mine = [
            r
            for r in rows
            if r["save"] == save
            and r["batch"] == batch
            and r["lanes"] == lanes
            and r["weight_bits"] == 32
        ]
        ax.plot(
            [r["width"] for r in mine],
            [r["training_bytes"] / 2**20 for r in mine],
            marker=marker,
            linestyle=dash,
            label=f"save={save}" + (" (same bytes as stoch)" if save in ("det", "det_mse") else ""),
        )
    ax.set(
        xlabel="WRN-20 width k",
        ylabel="training memory (MiB)",
        yscale="log",
        title=f"Training memory, batch {batch}",
    )
    ax.legend()
    paths.append(_save(fig, out / "memory_vs_width.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [(r["training_bytes"] / 2**20, r["training_uj_per_image"]) for r in rows]
    # The bit-saving modes cost the same: hollow squares, crosses and plus signs keep all
    # of them visible.
    for save, marker in zip(SAVE_MODES, ("o", "s", "x", "+"), strict=True):
        xs = [p for p, r in zip(pts, rows, strict=True) if r["save"] == save]
        style = {"facecolors": "none", "edgecolors": "C1"} if marker == "s" else {}
        ax.scatter(
            [p[0] for p in xs],
            [p[1] for p in xs],
            s=18,
            marker=marker,
            label=f"save={save}",
            **style,
        )
    on_front = pareto(pts)
    front = [pts[i] for i in on_front]
    ax.plot([p[0] for p in front], [p[1] for p in front], color="black", lw=1, label="Pareto front")
    names = []  # number every configuration on the front and name it in a box
    for n, i in enumerate(on_front, start=1):
        r = rows[i]
        ax.annotate(str(n), pts[i], fontsize=7, xytext=(2, 4), textcoords="offset points")
        names.append(
            f"{n}: WRN-20-{r['width']}, batch {r['batch']}, {r['lanes']} lanes, "
            f"{r['save']}, {r['weight_bits']}-bit weights"
        )
    ax.text(
        0.98, 0.03, "Pareto front\n" + "\n".join(names), transform=ax.transAxes,
        fontsize=6, ha="right", va="bottom", bbox={"facecolor": "white", "alpha": 0.8},
    )  # fmt: skip
    ax.set(
        xlabel="training memory (MiB)",
        ylabel="training energy per image (uJ)",
        xscale="log",
        yscale="log",
        title="Energy vs memory",
    )
    ax.legend()
    paths.append(_save(fig, out / "energy_vs_memory.png"))
    plt.close("all")
    return paths


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    write_atomic(path, buf.getvalue())
    return path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m estimator.sweep", description=__doc__)
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4, 6, 8, 10])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 125, 256])
    parser.add_argument("--lanes", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("sweep"),
        help="folder for sweep.csv and the plots (default ./sweep)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write the CSV only")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:  # every configuration and the energy table first, then the folder, then the work
        grid(args)
        EnergyTable.load(args.energy_table)
        check_output(args.out, "--out", folder=True)
        rows = sweep(args)
    except ValueError as e:  # OutputError too
        print(f"error: {e}", file=sys.stderr)
        return 2
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(args.out / "sweep.csv", buf.getvalue().encode())
    written = [args.out / "sweep.csv"]
    if not args.no_plots:
        written += _plots(rows, args.out, args.batches[0], args.lanes[0])
    print(f"{len(rows)} configurations; wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.readme``: the README's measured tables, rendered from ``bench/results``.

A figure typed by hand drifts from the measurement it came from. Each table this module
knows sits in ``README.md`` between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``;
``python -m bench.readme`` rewrites every such table from its JSON file (atomically), and
``--check`` changes nothing and exits 1 naming each table that differs (a test runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from estimator.memory import step_peak_bytes
from estimator.network import wrn
from fileio import write_atomic

from ._report import RESULTS_DIR

README = Path(__file__).resolve().parent.parent / "README.md"


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS_DIR / f"{name}.json").read_text())


def _rows(header: list[str], body: list[list[str]], right: int = 1) -> str:
    """A Markdown table; columns from ``right`` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = [header, align, *body]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def peak_memory() -> str:
    """Peak rise per variant and width, with the estimator's prediction."""
    doc = _load("peak_memory")
    widths = sorted({r["width"] for r in doc["rows"]})
    header = ["variant"]
    for w in widths:
        header += [f"WRN-20-{w} peak rise", "fp32 / variant", "estimator"]
    body = []
    for variant in dict.fromkeys(r["variant"] for r in doc["rows"]):
        cells = [f"`{variant}`"]
        for w in widths:
            row = next(r for r in doc["rows"] if r["width"] == w and r["variant"] == variant)
            save = variant.removesuffix("_bf16")
            est = "-"  # plain PyTorch's checkpointing and autocast are not modelled
            if variant not in ("ckpt", "bf16", "ckpt_bf16"):
                b = step_peak_bytes(wrn(20, w), doc["batch"], save, bf16=save != variant)
                est = f"{b / 2**20:,.1f} MiB"
            cells += [f"{row['peak_rise_MiB']:,.1f} MiB", f"{row['fp32_over_variant']:.2f}x", est]
        body.append(cells)
    return _rows(header, body)


def peak_timing() -> str:
    """Step time per variant, interleaved in one process, as a ratio to fp32."""
    doc = _load("peak_memory")
    body = [
        [f"`{r['variant']}`", f"{r['median_ms']:,.0f} ms", f"{r['over_fp32']:.2f}x"]
        for r in doc["timing"]
    ]
    return _rows([f"variant (WRN-20-{doc['timing'][0]['width']})", "step", "vs fp32"], body)


def accuracy(name: str = "accuracy") -> str:
    """Mean test accuracy per configuration, from ``bench/results/<name>.json``: the
    save-mode suite against fp32, or (``accuracy_random``) the random sources against
    torch's RNG, with the per-seed differences."""
    doc = _load(name)
    ref = "torch" if doc.get("suite") == "random" else "fp32"
    points = f"points_vs_{ref}"
    body = []
    for r in doc["rows"]:
        first = [f"`{r['random']}`"] if ref == "torch" else \
            [f"`{r['save']}`", "yes" if r["binary_weights"] else "no"]  # fmt: skip
        body.append([
            *first,
            f"{100 * r['test_acc_mean']:.2f} %",
            f"{r[points]:+.2f}" if r[points] else "0",
            ", ".join(f"{100 * a:.2f}" for a in r["test_accs"]),
        ])  # fmt: skip
        if ref == "torch":
            body[-1].append(", ".join(f"{d:+.2f}" for d in r["points_per_seed"]))
    if ref == "torch":
        header = ["random numbers", "test accuracy (mean)", "points vs torch", "per seed",
                  "per seed vs torch"]  # fmt: skip
        return _rows(header, body, right=1)
    header = ["save", "binary weights", "test accuracy (mean)", "points vs fp32", "per seed"]
    return _rows(header, body, right=2)


def saved_store() -> str:
    """Bytes autograd keeps between the passes, per save mode and width."""
    doc = _load("memory")
    modes = list(dict.fromkeys(r["save"] for r in doc["rows"]))
    body = []
    for w in dict.fromkeys(r["width"] for r in doc["rows"]):
        mine = {r["save"]: r for r in doc["rows"] if r["width"] == w}
        cells = [f"WRN-20-{w}", *(f"{mine[m]['activation_MiB']:,.2f} MiB" for m in modes)]
        body.append([*cells, f"{mine['stoch']['fp32_over_mode']:.1f}x"])
    return _rows(["network", *(f"`{m}`" for m in modes), "fp32 / stoch"], body)


def lfsr() -> str:
    """Random codes per second of each source's model at 32 lanes."""
    doc = _load("lfsr")
    body = [
        [f"`{r['source']}`", str(r["act_bits"]), f"{r['codes_per_s']:.2g}",
         f"{r['vs_bitwise_python']:.0f}x"]
        for r in doc["rows"]
        if r["lanes"] == 32
    ]  # fmt: skip
    header = ["source", "act_bits", "codes/s", "vs a bit-by-bit Python stepper"]
    return _rows(header, body)


def randomness() -> str:
    """Both random sources' statistics against their sample-size bounds."""
    doc = _load("randomness")
    body = [[r["line"], f"{r['lanes']:+.2f}", f"{r['shared']:+.2f}", f"{r['bound']:.2f}"]
            for r in doc["rows"]]  # fmt: skip
    return _rows(["statistic (a standard-normal score)", "`lanes`", "`shared`", "bound"], body)


def sim_speed() -> str:
    """Simulated cycles per second per simulator."""
    doc = _load("sim_speed")
    body = [[r["simulator"], r["measure"], f"{r['cycles_per_s']:,}"] for r in doc["rows"]]
    return _rows(["simulator", "what", "cycles/s"], body, right=2)


def xnor_floor() -> str:
    """LUTs of the xnor datapath and of its parts' references."""
    doc = _load("xnor_floor")
    body = [
        [f"`{r['design']}`", str(r["lut"]), f"{r['lut_per_lane']:.2f}", f"{r['mac_per_lut']:.2f}"]
        for r in doc["rows"]
    ]
    return _rows(["design", "LUT", "LUT/lane", "binary MAC per LUT per cycle"], body)


def resources() -> str:
    """Per-block Yosys xc7 utilization and ECP5 Fmax."""
    doc = _load("resources")
    body = [
        [
            f"`{r['block']}`",
            *(str(r[k]) for k in ("lanes", "lut", "ff", "bram", "dsp")),
            f"{r['lut_per_lane']:.1f}",
            f"{r['ff_per_lane']:.1f}",
            f"{r['fmax_ecp5_mhz']:.0f}",
        ]
        for r in doc["rows"]
    ]
    header = ["block", "lanes", "LUT", "FF", "BRAM (RAMB36)", "DSP", "LUT/lane", "FF/lane"]
    return _rows([*header, "ECP5 Fmax (MHz)"], body)


def board() -> str:
    """What ``python -m hw.build`` reports per board."""
    doc = _load("board")
    body = []
    for r in doc["rows"]:
        if "lut" in r:
            fig = ", ".join(
                f"{r[k]:,} {label} ({r[k + '_percent']:.1f} %)"
                for k, label in (("lut", "LUT"), ("ff", "FF"), ("bram", "RAMB36"), ("dsp", "DSP"))
            )
            what = f"Yosys estimate: {fig}"
        else:
            what = (
                f"post-route Fmax {r['fmax_mhz']:.1f} MHz against its {r['clock_mhz']:g} MHz clock"
            )
        body.append([f"`{r['board']}`", r["part"], str(r["lanes"]), what, f"{r['build_s']:.0f} s"])
    return _rows(["board", "part", "lanes", "figures", "build time"], body, right=4)


def estimator_example() -> str:
    """``python -m estimator --width 1 --batch 125 --weights 1 --board arty_a7``'s report,
    its per-layer table abridged to the first two and last three rows."""
    from estimator.__main__ import report
    from estimator.core import Config, estimate

    lines = report(estimate(Config(width=1, batch=125, weight_bits=1))).splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    last = next(i for i, line in enumerate(lines) if line.startswith("total"))
    kept = [*lines[first : first + 3], "...", *lines[last - 2 :]]
    return "```\n" + "\n".join(kept) + "\n```"


def deploy() -> str:
    """Float against integer accuracy per activation width."""
    doc = _load("deploy")
    body = [
        [str(r["act_bits"]), f"{r['float_acc']:.2f} %", f"{r['int_acc']:.2f} %",
         f"{r['int_acc'] - r['float_acc']:+.2f}", f"{r['top1_agreement']:.2f} %",
         f"{r['weight_bytes']:,} + {r['integer_bytes']:,} B"]
        for r in doc["rows"]
    ]  # fmt: skip
    header = ["activation bits", "float", "integer", "points", "top-1 agreement",
              "weights + integers"]  # fmt: skip
    return _rows(header, body)


def infer() -> str:
    """Images per second of the integer reference on one core."""
    doc = _load("infer")
    body = [[r["network"], str(r["act_bits"]), f"{r['images_per_s']:,.0f}"] for r in doc["rows"]]
    return _rows(["network", "activation bits", "images/s (one core)"], body)


def inference() -> str:
    """The engine on WRN-20-1 per array size: cosimulated cycles, rates, synthesis, and
    the estimator's distance from them."""
    doc = _load("inference")
    body = []
    for r in doc["rows"]:
        fmax = r.get("fmax_ecp5_mhz")
        e = r["estimator_error_pct"]
        body.append([
            f"{r['lanes']} x {r['lanes']}", f"{r['images']} of {r['images']}",
            f"{r['cycles']:,}", f"{100 * r['utilization']:.1f} %",
            f"{r['images_per_s_100mhz']:,.0f}",
            f"{fmax:.1f} MHz: {r['images_per_s_fmax']:,.0f}/s" if fmax else "not run",
            f"{r['lut']:,} ({r['lut_pct']:.0f} %)", f"{r['ff']:,}", str(r["bram36"]),
            str(r["dsp"]), "yes" if r["fits_a7_35t"] else "no",
            f"{e['cycles']:+.1f} / {e['bram36']:+.1f} / {e['dsp']:+.1f} %",
        ])  # fmt: skip
    header = ["array", "logits equal", "cycles per image", "utilization", "images/s at 100 MHz",
              "ECP5 Fmax: images/s", "LUT (of A7-35T)", "FF", "RAMB36", "DSP",
              "fits A7-35T", "estimator off by (cycles / RAMB36 / DSP)"]  # fmt: skip
    return _rows(header, body)


TABLES: dict[str, Callable[[], str]] = {
    "deploy": deploy,
    "inference": inference,
    "infer": infer,
    "estimator_example": estimator_example,
    "board": board,
    "resources": resources,
    "peak_memory": peak_memory,
    "peak_timing": peak_timing,
    "accuracy": accuracy,
    "accuracy_cifar10": lambda: accuracy("accuracy_cifar10"),
    "accuracy_random": lambda: accuracy("accuracy_random"),
    "memory": saved_store,
    "sim_speed": sim_speed,
    "xnor_floor": xnor_floor,
    "lfsr": lfsr,
    "randomness": randomness,
}


def render(text: str) -> tuple[str, list[str]]:
    """``text`` with every known table re-rendered, and the names of those that changed."""
    changed = []
    for name, make in TABLES.items():
        pattern = re.compile(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->", re.DOTALL)
        m = pattern.search(text)
        if m is None:
            continue
        table = make() + "\n"
        if m.group(1) != table:
            changed.append(name)
            text = text[: m.start(1)] + table + text[m.end(1) :]
    return text, changed


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on drift")
    args = parser.parse_args(argv)
    text, changed = render(README.read_text())
    if args.check:
        for name in changed:
            print(f"README.md: table {name} differs from bench/results; run python -m bench.readme")
        return 1 if changed else 0
    if changed:
        write_atomic(README, text.encode())
    print(
        f"README.md: {len(changed)} table(s) rewritten"
        + (f": {', '.join(changed)}" * bool(changed))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

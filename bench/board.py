"""``python -m bench.board``: the board builds' figures, as ``python -m hw.build`` makes them.

Runs the build command itself for the Arty A7-35T (Yosys utilization estimate, no Vivado
needed) and the iCEBreaker (the whole open flow, post-route Fmax) into a temporary
folder, and records the reports it wrote: LUT/FF/RAMB36/DSP and their share of the part,
and Fmax against the board clock. Prints a table; writes ``bench/results/board.json``
(about 2 minutes). The README's board figures are rendered from it (``bench.readme``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hw.build import main as build

from ._report import parse_args, save, table

#: Boards built, each with what its build reports.
BOARDS = ("arty_a7", "icebreaker")


def measure(board: str, folder: Path) -> dict:
    """Build ``board`` into ``folder`` through the CLI and read back its report."""
    t0 = time.perf_counter()
    status = build(["--board", board, "--out", str(folder)])
    seconds = round(time.perf_counter() - t0, 1)
    if board == "arty_a7":
        util = json.loads((folder / "utilization.json").read_text())
        return {
            "board": board,
            "part": util["part"],
            "lanes": util["lanes"],
            **{k: util["used"][k] for k in ("lut", "ff", "bram", "dsp")},
            **{f"{k}_percent": util["percent"][k] for k in ("lut", "ff", "bram", "dsp")},
            "build_s": seconds,
            "status": status,
        }
    timing = json.loads((folder / "timing.json").read_text())
    fmax = min(c["achieved_mhz"] for c in timing["clocks"].values())
    return {
        "board": board,
        "part": timing["part"],
        "lanes": timing["lanes"],
        "fmax_mhz": fmax,
        "clock_mhz": timing["board_clock_mhz"],
        "meets_timing": timing["meets_timing"],
        "build_s": seconds,
        "status": status,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.board", description=__doc__)
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/board.json)")
    args = parse_args(parser, argv, "board")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sbq-board-") as tmp:
        for board in BOARDS:
            print(f"building {board} ...", file=sys.stderr)
            rows.append(measure(board, Path(tmp) / board))
    columns = list(dict.fromkeys(k for r in rows for k in r))
    print(table(rows, columns))
    path = save("board", rows, args.out)
    print(f"wrote {path}")
    return 0 if all(r["status"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.randomness``: the statistics of both random sources, side by side.

For the per-lane bank and the shared LFSR (``docs/formats.md`` sections 3 and 3b), at
the same lanes, code width and number of beats, one line per statistic, each a score
that is standard normal (or the largest of ``m`` such) when the source is ideal:

- bias of ``P(b = 1)`` for several codes ``q``: ``(mean(b) - q / 2**B) / sigma``;
- correlation of every pair of lanes' codes in the same beat, and of their bits at one
  ``q``: the largest ``|rho| * sqrt(beats)``;
- correlation of a lane's codes with its own ``k`` beats later, for several ``k``: the
  largest over lanes;
- chi-square of all codes over the ``2**B`` values: ``(chi2 - dof) / sqrt(2 dof)``.

Each line's bound is where an ideal source exceeds it with probability
:data:`FAMILY_ALPHA`, the comparisons of the line counted (Bonferroni). A source passes
a line when its score is within the bound; the shared source is "no worse" than the
per-lane bank when it passes every line the bank passes. Prints a table and writes
``bench/results/randomness.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from model.lfsr import codes
from spec import SOURCES, BinarizerSpec

from ._report import parse_args, save, table

#: Probability that an ideal source fails a line (over all its comparisons).
FAMILY_ALPHA = 1e-4
#: Codes whose bit ``r < q`` is checked for bias (edges, halves, odd values).
BIAS_CODES = (1, 37, 64, 128, 200, 255)
#: The ``q`` of the cross-lane bit correlation: not a power of two, so that ``b``
#: depends on several code bits.
PAIR_CODE = 77
LAGS = (1, 2, 7, 64)


def _bound(comparisons: int, two_sided: bool = True) -> float:
    return NormalDist().inv_cdf(1 - FAMILY_ALPHA / (comparisons * (2 if two_sided else 1)))


def _corr_scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``rho * sqrt(n)`` between the columns of ``a`` and of ``b`` (same rows)."""
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    return (a.T @ b) / np.sqrt(len(a))


def lines(spec: BinarizerSpec, beats: int) -> list[dict[str, Any]]:
    """Every statistic of the source ``spec`` names over ``beats`` beats."""
    return scores(codes(spec, beats * spec.lanes).reshape(beats, spec.lanes), spec.act_bits)


def scores(r: np.ndarray, bits: int) -> list[dict[str, Any]]:
    """Every statistic of the ``bits``-bit codes ``r`` (beats x lanes)."""
    lanes = r.shape[1]
    r = r.astype(np.float64)
    out = []
    for q in BIAS_CODES:
        p = q / 2**bits
        mean = float((r < q).mean())
        z = (mean - p) / np.sqrt(p * (1 - p) / r.size)
        out.append({"line": f"bias of P(b=1), q={q}", "score": z, "bound": _bound(len(BIAS_CODES))})
    pairs = lanes * (lanes - 1) // 2
    upper = np.triu_indices(lanes, 1)
    rho = _corr_scores(r, r)[upper]
    out.append({"line": f"lane pairs: codes ({pairs} pairs)", "score": float(np.abs(rho).max()),
                "bound": _bound(pairs)})  # fmt: skip
    b = (r < PAIR_CODE).astype(np.float64)
    rho = _corr_scores(b, b)[upper]
    out.append({"line": f"lane pairs: bits at q={PAIR_CODE}", "score": float(np.abs(rho).max()),
                "bound": _bound(pairs)})  # fmt: skip
    for k in LAGS:
        rho = np.diag(_corr_scores(r[:-k], r[k:]))
        out.append({"line": f"lag {k} within a lane", "score": float(np.abs(rho).max()),
                    "bound": _bound(lanes)})  # fmt: skip
    counts = np.bincount(r.astype(np.int64).ravel(), minlength=2**bits)
    dof = 2**bits - 1
    chi2 = float(((counts - r.size / 2**bits) ** 2).sum() / (r.size / 2**bits))
    out.append({"line": f"chi-square of codes ({2**bits} cells)",
                "score": (chi2 - dof) / np.sqrt(2 * dof),
                "bound": _bound(1, two_sided=False)})  # fmt: skip
    for line in out:
        line["score"] = round(float(line["score"]), 3)
        line["bound"] = round(line["bound"], 3)
        line["passes"] = abs(line["score"]) <= line["bound"]
    return out


def compare(lanes: int, act_bits: int, beats: int, seed: int) -> list[dict[str, Any]]:
    """One row per statistic: each source's score and the bound."""
    per_source = {
        s: lines(BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, source=s), beats)
        for s in SOURCES
    }
    rows = []
    for k, line in enumerate(per_source[SOURCES[0]]):
        row = {"line": line["line"], "bound": line["bound"]}
        for s in SOURCES:
            row[s] = per_source[s][k]["score"]
            row[f"{s}_passes"] = per_source[s][k]["passes"]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (1 if the shared source fails a line
    the per-lane bank passes)."""
    parser = argparse.ArgumentParser(prog="python -m bench.randomness", description=__doc__)
    parser.add_argument("--lanes", type=int, default=32, help="lanes (default 32)")
    parser.add_argument("--act-bits", type=int, default=8, help="code width (default 8)")
    parser.add_argument("--beats", type=int, default=1 << 20, help="beats (default 2**20)")
    parser.add_argument("--seed", type=int, default=0xACE1, help="both sources' seed")
    parser.add_argument(
        "--out", type=Path, help="JSON path (default bench/results/randomness.json)"
    )
    args = parse_args(parser, argv, "randomness")
    if args.beats < 100:
        parser.error(f"--beats must be at least 100, not {args.beats}")
    try:
        rows = compare(args.lanes, args.act_bits, args.beats, args.seed)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    print(table(rows, ["line", *SOURCES, "bound"]))
    worse = [r["line"] for r in rows if r["lanes_passes"] and not r["shared_passes"]]
    print("shared source: " + (f"worse on {', '.join(worse)}" if worse else "no worse on any line"))
    path = save("randomness", rows, args.out, lanes=args.lanes, act_bits=args.act_bits,
                beats=args.beats, seed=args.seed, family_alpha=FAMILY_ALPHA)  # fmt: skip
    print(f"wrote {path}")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())

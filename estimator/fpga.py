"""Boards, block RAM and a logic cost model calibrated on the project's own synthesis.

The cost model prices one datapath configuration as the two blocks the gateware
instantiates for it: the store path (:class:`hw.store.BinarizeAndStore`: its default
random source, the shared LFSR, the binarizer and the packed SRAM) and the datapath
(:class:`hw.xnor_acc.XnorAccumulator`, all modes). LUTs and FFs of each are a
least-squares fit, over the ``calibration`` rows of ``bench/results/resources.json``
(YoWASP Yosys ``synth_xilinx -family xc7``), of

- store: ``c0 + c1*lanes + c2*lanes*act_bits + c3*word_bits``
- datapath: ``c0 + c1*lanes + c2*lanes*act_bits``

(the shared LFSR's state is the constant, its comparators grow with lanes and code
width, the packing register with the word). Block RAM is not fitted: it is the
cheapest tiling of ``depth x word_bits`` by RAMB36/RAMB18 aspect ratios. Figures are
xc7 LUT6 counts; LUT4 devices (iCE40, ECP5) are reported without a logic-fit verdict, as
nothing calibrates them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spec.boards import FPGAS, Fpga

__all__ = ["BOARDS", "CostModel", "bram36"]

_RESOURCES = Path(__file__).resolve().parent.parent / "bench" / "results" / "resources.json"


#: Board name -> FPGA resources (:data:`spec.boards.FPGAS`, shared with ``hw.build``).
BOARDS: dict[str, Fpga] = FPGAS


# RAMB36 and RAMB18 (depth, width) aspect ratios, 7 series (Xilinx UG473).
_RAMB36 = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
_RAMB18 = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def bram36(depth: int, word_bits: int) -> float:
    """RAMB36 equivalents for a ``depth x word_bits`` memory: the cheapest tiling by one
    block size (a RAMB18 is half)."""

    def tiles(aspects: tuple[tuple[int, int], ...], cost: float) -> float:
        return min(-(-depth // d) * -(-word_bits // w) * cost for d, w in aspects)

    return min(tiles(_RAMB36, 1.0), tiles(_RAMB18, 0.5))


def _terms(block: str, lanes: float, act_bits: float, word_bits: float) -> list[float]:
    if block == "store":
        return [1.0, lanes, lanes * act_bits, word_bits]
    return [1.0, lanes, lanes * act_bits]


@dataclass(frozen=True)
class CostModel:
    """Fitted coefficients per ``(block, metric)``; see the module docstring."""

    coefficients: dict[tuple[str, str], list[float]]
    points: int

    @classmethod
    def fit(cls, rows: list[dict]) -> CostModel:
        """Least-squares fit to calibration rows (``block``, ``lanes``, ``act_bits``,
        ``word_bits``, ``lut``, ``ff``)."""
        coefficients = {}
        for block in ("store", "datapath"):
            mine = [r for r in rows if r["block"] == block]
            a = np.array([_terms(block, r["lanes"], r["act_bits"], r["word_bits"]) for r in mine])
            if len(mine) < a.shape[1]:
                raise ValueError(
                    f"calibration has {len(mine)} {block} rows; the fit needs {a.shape[1]}"
                )
            for metric in ("lut", "ff"):
                y = np.array([r[metric] for r in mine], dtype=float)
                coefficients[(block, metric)] = np.linalg.lstsq(a, y, rcond=None)[0].tolist()
        return cls(coefficients, len(rows))

    @classmethod
    def load(cls, path: Path = _RESOURCES) -> CostModel:
        """Fit to the ``calibration`` rows of ``bench/results/resources.json``."""
        try:
            rows = json.loads(Path(path).read_text())["calibration"]
        except (OSError, json.JSONDecodeError, KeyError) as e:
            raise ValueError(
                f"{path}: no calibration rows ({e}); run `python -m bench.resources "
                f"--calibration-only`"
            ) from None
        return cls.fit(rows)

    def predict(self, *, lanes: int, act_bits: int, word_bits: int, depth: int) -> dict:
        """LUT, FF (per block and total) and RAMB36 equivalents of one configuration."""
        out: dict[str, float] = {}
        for block in ("store", "datapath"):
            t = _terms(block, lanes, act_bits, word_bits)
            for metric in ("lut", "ff"):
                c = self.coefficients[(block, metric)]
                out[f"{block}_{metric}"] = round(float(np.dot(c, t)))
        out["lut"] = out["store_lut"] + out["datapath_lut"]
        out["ff"] = out["store_ff"] + out["datapath_ff"]
        out["bram36"] = bram36(depth, word_bits)
        return out

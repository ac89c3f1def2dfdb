"""Operation counts and energy per image, from a table of per-operation energies.

The default table is Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, 45 nm at 0.9 V: arithmetic (his Table/Figure of operation energies) and 64-bit
memory accesses by memory size (8 KB, 32 KB, 1 MB SRAM; DRAM 1.3-2.6 nJ, the low end used
here; Han et al., "Learning both weights and connections", NeurIPS 2015, Fig. 1, quote the
same source as 640 pJ per 32-bit DRAM access, i.e. 1.28 nJ per 64 bits). Override any entry
with ``--energy-table FILE`` (JSON: ``{"dram_64b": 2600, ...}``, picojoules).

The data-movement model is deliberately simple and stated here so a reader can judge it:

- A buffer of ``B`` bytes is accessed 64 bits at a time at the energy of the smallest
  memory class holding it (8 KB, 32 KB, 1 MB SRAM; DRAM above 1 MB).
- Inference (the hardware datapath): every multiply-accumulate is one ``int32_add``
  (a +-code into the accumulator) with 1-bit weights, ``fp32_mult + fp32_add`` with 32-bit
  weights; each layer's weights are read once, its input read once and its output written
  once per image (perfect on-chip reuse: a lower bound on traffic).
- Training (per image, one step's work divided by the batch): forward and backward are
  ``3 x`` the forward multiply-accumulates in fp32; the saved activations are written
  once and read once, in the memory class of the whole batch's saved bytes (this is
  where 1-bit storage pays: a smaller class, 32x fewer words); weights, gradients and
  momentum move 7 times per step (read weights twice, write and read the gradient, read
  and write momentum, write weights).

Not modelled: batch-norm, ReLU and binarization arithmetic (one operation per element,
small next to the convolutions), control, leakage and off-chip interfaces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .memory import SAVE_MODES, saved_bytes
from .network import Network

__all__ = ["ENERGY_SOURCES", "EnergyTable", "access_pj", "energy_per_image", "ops_per_image"]

_HOROWITZ = "Horowitz, ISSCC 2014, 45 nm"

#: Entry -> (picojoules, source).
ENERGY_SOURCES: dict[str, tuple[float, str]] = {
    "int8_add": (0.03, _HOROWITZ),
    "int32_add": (0.1, _HOROWITZ),
    "fp32_add": (0.9, _HOROWITZ),
    "fp32_mult": (3.7, _HOROWITZ),
    "sram_8kb_64b": (10.0, _HOROWITZ + ", 8 KB SRAM, 64-bit access"),
    "sram_32kb_64b": (20.0, _HOROWITZ + ", 32 KB SRAM, 64-bit access"),
    "sram_1mb_64b": (100.0, _HOROWITZ + ", 1 MB SRAM, 64-bit access"),
    "dram_64b": (1300.0, _HOROWITZ + ", DRAM 1.3-2.6 nJ per 64-bit access (low end)"),
}

#: Memory classes, smallest first: (capacity in bytes, table entry).
_CLASSES = ((8 * 1024, "sram_8kb_64b"), (32 * 1024, "sram_32kb_64b"), (1 << 20, "sram_1mb_64b"))


@dataclass(frozen=True)
class EnergyTable:
    """Picojoules per operation or per 64-bit access, by entry name."""

    pj: dict[str, float]

    @classmethod
    def load(cls, path: Path | None = None) -> EnergyTable:
        """The default table, with the entries of JSON file ``path`` replacing defaults."""
        pj = {k: v for k, (v, _) in ENERGY_SOURCES.items()}
        if path is None:
            return cls(pj)
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"--energy-table {path}: cannot read it as JSON ({e})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"--energy-table {path}: expected a JSON object of picojoules")
        for key, value in doc.items():
            if key not in pj:
                raise ValueError(
                    f"--energy-table {path}: unknown entry {key!r}; known: {', '.join(pj)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(
                    f"--energy-table {path}: {key} must be a number >= 0, not {value!r}"
                )
            pj[key] = float(value)
        return cls(pj)


def access_pj(table: EnergyTable, buffer_bytes: int) -> tuple[str, float]:
    """The memory class of a ``buffer_bytes`` buffer and its energy per 64-bit access."""
    for capacity, entry in _CLASSES:
        if buffer_bytes <= capacity:
            return entry, table.pj[entry]
    return "dram_64b", table.pj["dram_64b"]


def ops_per_image(net: Network) -> dict[str, int]:
    """Forward multiply-accumulates per image and the training step's (3x, per image)."""
    return {"forward_macs": net.macs, "training_macs": 3 * net.macs}


def _words(n_bytes: float) -> float:
    return n_bytes / 8


def energy_per_image(
    net: Network, table: EnergyTable, *, batch: int, weight_bits: int, act_bits: int
) -> dict[str, Any]:
    """Energy per image in picojoules: ``inference`` on the datapath and ``training`` per
    save mode, each split into ``compute`` and memory terms."""
    pj = table.pj
    convs = [layer for layer in net.layers if layer.kernel]
    mac = pj["int32_add"] if weight_bits == 1 else pj["fp32_mult"] + pj["fp32_add"]
    weight_bytes = sum(layer.conv_params for layer in convs) * weight_bits / 8
    largest = max((layer.in_elements + layer.out_elements) * act_bits / 8 for layer in convs)
    act_bytes = sum((layer.in_elements + layer.out_elements) * act_bits / 8 for layer in convs)
    w_class, w_pj = access_pj(table, int(weight_bytes))
    a_class, a_pj = access_pj(table, int(largest))
    inference = {
        "compute": net.macs * mac,
        "weights": _words(weight_bytes) * w_pj,
        "activations": _words(act_bytes) * a_pj,
        "weights_in": w_class,
        "activations_in": a_class,
    }
    inference["total"] = inference["compute"] + inference["weights"] + inference["activations"]
    state_bytes = 4 * net.params
    s_class, s_pj = access_pj(table, state_bytes)
    common = {
        "compute": 3 * net.macs * (pj["fp32_mult"] + pj["fp32_add"]),
        "parameters": 7 * _words(state_bytes) * s_pj / batch,
        "parameters_in": s_class,
    }
    training = {}
    for mode in SAVE_MODES:
        saved = sum(saved_bytes(layer, batch, mode) for layer in net.layers)
        cls, e = access_pj(table, saved)
        row = {**common, "saved_activations": 2 * _words(saved) * e / batch, "saved_in": cls}
        row["total"] = row["compute"] + row["parameters"] + row["saved_activations"]
        training[mode] = row
    return {"inference": inference, "training": training}

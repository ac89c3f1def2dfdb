"""The inference engine (``hw/engine``) of one configuration: cycles from its schedule,
block RAM from its buffers, DSP blocks from its requantization lanes.

Everything here is read from :class:`spec.engine.EngineSpec`, the schedule and buffer
sizes the gateware is built from, so the cycles are the engine's to the cycle (its
tests check that in simulation) and the memory is the engine's own buffers tiled by
block-RAM aspect ratios (:func:`estimator.fpga.bram36`). The widths of the stream
buffers and of the multiplier depend on the trained network's integers (the engine
sizes them by :func:`model.intnet.bounds`); without a network they are taken at
``stream_bits`` (the format's cap, 32, unless told).
"""

from __future__ import annotations

from typing import Any

from spec import IntNetSpec
from spec.boards import Fpga
from spec.engine import CODE_BITS, EngineSpec, banks

from .fpga import bram36

__all__ = ["engine_estimate"]

#: The widest signed operand one DSP48E1 multiplier port takes (25 x 18).
DSP_PORT_BITS = 25
#: DSP blocks besides the requantization lanes: the window walker's address products.
ADDRESS_DSP = 2


def engine_estimate(
    net: IntNetSpec, lanes: int, *, stream_bits: int, clock_mhz: float, board: Fpga
) -> dict[str, Any]:
    """Cycles, images/s, utilization, block RAM and DSP blocks of the engine of ``net``
    at ``lanes``, and whether they fit ``board``."""
    spec = EngineSpec(lanes=lanes)
    cycles = spec.cycles(net)
    words = spec.buffers(net)
    width = {"x0": lanes * stream_bits, "x1": lanes * stream_bits}
    width.update(c0=lanes * CODE_BITS, c1=lanes * CODE_BITS)
    words["weights"], width["weights"] = spec.weight_words(net), lanes * lanes
    memories = {}
    for name, depth in words.items():
        count, bank_words = banks(depth)
        memories[name] = {
            "words": depth,
            "bits": width[name],
            "banks": count,
            "bram36": count * bram36(bank_words, width[name]),
        }
    blocks = sum(m["bram36"] for m in memories.values())
    dsp = lanes * -(-stream_bits // DSP_PORT_BITS) + ADDRESS_DSP
    block_bits = sum(m["words"] * m["bits"] for m in memories.values())
    fits_bram = blocks <= board.bram36 if board.bram36 else block_bits <= board.bram_bits
    return {
        "lanes": lanes,
        "stream_bits": stream_bits,
        "cycles_per_image": cycles,
        "images_per_s": float(f"{clock_mhz * 1e6 / cycles:.4g}"),
        "utilization": round(spec.utilization(net), 4),
        "memories": memories,
        "bram36": blocks,
        "memory_bits": block_bits,
        "dsp": dsp,
        "bram_fits": fits_bram,
        "dsp_fits": dsp <= board.dsp,
    }

"""One configuration in, every estimate out: :func:`estimate`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from spec import WORD_BITS_CHOICES, BinarizerSpec, DatapathSpec, IntNetSpec, PackingSpec
from spec.engine import EngineSpec

from .energy import ENERGY_SOURCES, EnergyTable, energy_per_image, ops_per_image
from .engine import engine_estimate
from .fpga import BOARDS, CostModel
from .memory import SAVE_MODES, inference_bytes, step_peak_bytes, training_memory
from .network import wrn

__all__ = ["Config", "estimate"]


@dataclass(frozen=True)
class Config:
    """What the user asks about. Hardware fields are checked by :mod:`spec`."""

    depth: int = 20
    width: int = 1
    num_classes: int = 10
    size: int = 32
    batch: int = 125
    weight_bits: int = 32
    save: str = "stoch"
    lanes: int = 32
    act_bits: int = 8
    #: SRAM word; ``None``: 32, or ``lanes`` when that is wider (a beat fits one word).
    word_bits: int | None = None
    sram_depth: int = 1024
    clock_mhz: float = 100.0
    board: str = "arty_a7_35"
    #: The inference engine's lanes (``spec.engine.EngineSpec``) and the width its stream
    #: buffers are priced at (a trained network's bounds set it; 32 is the format's cap).
    engine_lanes: int = 16
    engine_stream_bits: int = 32

    def __post_init__(self) -> None:
        if self.weight_bits not in (1, 32):
            raise ValueError(f"weight_bits must be 1 or 32, not {self.weight_bits}")
        if self.save not in SAVE_MODES:
            raise ValueError(f"save must be one of {', '.join(SAVE_MODES)}, not {self.save!r}")
        if self.board not in BOARDS:
            raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {self.board!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"batch must be a positive integer, not {self.batch!r}")
        if not self.clock_mhz > 0:
            raise ValueError(f"clock_mhz must be positive, not {self.clock_mhz}")
        BinarizerSpec(lanes=self.lanes, act_bits=self.act_bits)
        EngineSpec(lanes=self.engine_lanes)
        if not 8 <= self.engine_stream_bits <= 64:
            raise ValueError(f"engine_stream_bits must be in 8..64, not {self.engine_stream_bits}")
        widest = max(WORD_BITS_CHOICES)
        if self.lanes > widest:
            raise ValueError(
                f"lanes must be at most {widest} (a beat is one SRAM word of at most "
                f"{widest} bits), not {self.lanes}"
            )
        if self.word_bits is None:
            object.__setattr__(self, "word_bits", max(32, self.lanes))
        PackingSpec(word_bits=self.word_bits, depth=self.sram_depth).beats_per_word(self.lanes)
        net = wrn(self.depth, self.width, self.num_classes, self.size)
        longest = max(layer.fan_in for layer in net.layers if layer.kernel)
        try:  # the accumulator must hold this network's longest dot product
            DatapathSpec(
                lanes=self.lanes, act_bits=self.act_bits, max_beats=-(-longest // self.lanes)
            )
        except ValueError:
            raise ValueError(
                f"act_bits {self.act_bits}: this network's longest dot product ({longest} "
                f"products) could overflow the 32-bit accumulator; use fewer act_bits"
            ) from None


def estimate(
    config: Config, *, energy: EnergyTable | None = None, costs: CostModel | None = None
) -> dict[str, Any]:
    """Memory, fit, operations, energy and FPGA resources of ``config``, as plain data
    (what ``python -m estimator --json`` prints)."""
    net = wrn(config.depth, config.width, config.num_classes, config.size)
    energy = energy or EnergyTable.load()
    costs = costs or CostModel.load()
    layers = training_memory(net, config.batch)
    saved = {m: sum(layer.saved[m] for layer in layers) for m in SAVE_MODES}
    state = {
        k: sum(getattr(layer, k) for layer in layers)
        for k in ("weights", "gradients", "optimizer", "buffers")
    }
    training_total = {m: sum(state.values()) + saved[m] for m in SAVE_MODES}
    inference = inference_bytes(net, config.weight_bits, config.act_bits)
    board = BOARDS[config.board]
    fpga = costs.predict(
        lanes=config.lanes,
        act_bits=config.act_bits,
        word_bits=config.word_bits,
        depth=config.sram_depth,
    )
    sram_bits = config.word_bits * config.sram_depth
    largest = max(layer.in_elements for layer in net.layers if layer.kernel)
    cycles = -(-net.macs // config.lanes)  # one beat of `lanes` MACs per cycle
    return {
        "config": asdict(config),
        "params": net.params,
        "saved_activation_bytes": saved,
        "training_memory_bytes": {
            **state,
            "saved_activations": saved[config.save],
            "total": training_total[config.save],
            "total_by_mode": training_total,
            "step_peak_rise_by_mode": {
                m: step_peak_bytes(net, config.batch, m) for m in SAVE_MODES
            },
            "step_peak_rise_bf16_by_mode": {
                m: step_peak_bytes(net, config.batch, m, bf16=True) for m in SAVE_MODES[1:]
            },
        },
        "layers": [
            {
                "name": layer.name,
                "weights": layer.weights,
                "gradients": layer.gradients,
                "optimizer": layer.optimizer,
                "buffers": layer.buffers,
                "saved": layer.saved,
            }
            for layer in layers
        ],
        "inference_memory_bytes": inference,
        "board": {
            "name": board.name,
            "device": board.device,
            "bram_bits": board.bram_bits,
            "source": board.source,
            "weights_fit": inference["weights"] * 8 <= board.bram_bits,
            "activations_fit": inference["activations"] * 8 <= board.bram_bits,
            "both_fit": inference["total"] * 8 <= board.bram_bits,
            "largest_layer_bits_fit_sram": largest <= sram_bits,
        },
        "ops_per_image": ops_per_image(net),
        "datapath_cycles_per_image": cycles,
        "datapath_images_per_s": float(f"{config.clock_mhz * 1e6 / cycles:.4g}"),
        "engine": engine_estimate(
            IntNetSpec(
                width=config.width,
                blocks=(config.depth - 2) // 6,
                num_classes=config.num_classes,
                image_size=config.size,
                act_bits=config.act_bits,
            ),
            config.engine_lanes,
            stream_bits=config.engine_stream_bits,
            clock_mhz=config.clock_mhz,
            board=board,
        ),
        "energy_pj_per_image": energy_per_image(
            net,
            energy,
            batch=config.batch,
            weight_bits=config.weight_bits,
            act_bits=config.act_bits,
        ),
        "energy_table_pj": energy.pj,
        "energy_sources": {k: src for k, (_, src) in ENERGY_SOURCES.items()},
        "fpga": {
            **fpga,
            "lut_fraction": round(fpga["lut"] / board.lut6, 4) if board.lut6 else None,
            "logic_fits": fpga["lut"] <= board.lut6 if board.lut6 else None,
            "calibration_points": costs.points,
        },
    }

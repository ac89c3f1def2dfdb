"""What the pytest side hands to the cocotb side (and back), shared by both.

The pytest function describes one build (:class:`Build`) and the seed; the simulator
process reads them from the environment variable :data:`CONFIG_ENV`, and each cocotb
test writes how many transactions it checked into :data:`COUNTS_FILE` in the build
folder, which the pytest function then asserts on.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Base seed of every random stimulus; a failing run prints the value to replay it.
SEED_ENV = "SBQ_SIM_SEED"
#: ``1`` writes waveforms into the build folder (FST from Icarus, VCD from Verilator).
WAVES_ENV = "SBQ_WAVES"
#: JSON of :class:`Config`, set by the pytest side for the simulator process.
CONFIG_ENV = "SBQ_SIM_CONFIG"
#: Per-test transaction counts, written by the cocotb tests into the build folder.
COUNTS_FILE = "sbq_counts.json"
#: Clock period of every testbench.
PERIOD_NS = 10


@dataclass(frozen=True)
class Build:
    """One parameter set of a block: a build folder, one Verilog file, one simulation.

    Parameters
    ----------
    dut : dict
        The component's constructor arguments.
    golden : tuple of str
        Golden cases (``golden.cases(block)`` names) replayed on this build.
    random_beats : int
        Beats of fresh random stimuli checked against the model.
    """

    dut: dict[str, Any]
    golden: tuple[str, ...] = ()
    random_beats: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The build folder's name, from the constructor arguments in their order and
        the platform, if any: e.g. ``lanes8_bits4_stoch_seed00000001``."""
        parts = []
        for key, value in self.dut.items():
            if key == "deterministic":
                parts.append("det" if value else "stoch")
            elif key == "seed":
                parts.append(f"seed{value:08x}")
            elif isinstance(value, bool):
                parts.append(key if value else f"no_{key}")
            elif isinstance(value, list | tuple):
                parts.append("+".join(str(v) for v in value))
            else:
                parts.append(f"{_SHORT.get(key, key)}{value}")
        if self.options.get("platform"):
            parts.append(self.options["platform"])
        return "_".join(parts)


_SHORT = {"act_bits": "bits", "word_bits": "word", "acc_bits": "acc", "max_beats": "beats"}


@dataclass(frozen=True)
class Config:
    """Everything the cocotb tests of one build need."""

    block: str
    sim: str
    build: Build
    seed: int  #: this build's seed, derived from the base seed
    base_seed: int  #: the session's base seed (what SBQ_SIM_SEED replays)

    def to_json(self) -> str:
        build = {
            "dut": self.build.dut,
            "golden": list(self.build.golden),
            "random_beats": self.build.random_beats,
            "options": self.build.options,
        }
        return json.dumps(
            {
                "block": self.block,
                "sim": self.sim,
                "build": build,
                "seed": self.seed,
                "base_seed": self.base_seed,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Config:
        d = json.loads(text)
        b = d["build"]
        build = Build(b["dut"], tuple(b["golden"]), b["random_beats"], b["options"])
        return cls(d["block"], d["sim"], build, d["seed"], d["base_seed"])

    @classmethod
    def from_env(cls) -> Config:
        """The configuration the pytest side set (inside the simulator process)."""
        if CONFIG_ENV not in os.environ:
            raise RuntimeError(
                f"{CONFIG_ENV} is not set: run these cocotb tests through their pytest function"
            )
        return cls.from_json(os.environ[CONFIG_ENV])


def derive_seed(base: int, *parts: object) -> int:
    """A 32-bit seed for one use of the base seed (a block, a build, a test)."""
    text = "/".join(str(p) for p in (base, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def record_counts(folder: Path, test: str, **counts: int) -> None:
    """Add ``counts`` of cocotb test ``test`` to the build folder's counts file."""
    path = folder / COUNTS_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data[test] = counts
    tmp = path.with_suffix(".new")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)

"""SPEC section 3: the stochastic binarizer and its lane organisation."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._base import SpecBase, check_int
from .encoding import MAX_ACT_BITS
from .lfsr import LfsrSpec

#: Most lanes any block accepts; far beyond any FPGA configuration, it only catches typos.
MAX_LANES = 4096


@dataclass(frozen=True)
class BinarizerSpec(SpecBase):
    """``lanes`` parallel binarizers, each with its own LFSR.

    Element ``k`` of a stream goes to lane ``k % lanes`` in beat ``k // lanes``; lane
    ``j`` compares its code ``q`` with a fresh ``act_bits``-bit random number ``r`` from
    its own LFSR and emits ``b = 1`` iff ``r < q`` (so ``P(b=1) = q / 2**B``). Lane
    ``j``'s LFSR starts at the seed advanced by ``j * lfsr.lane_stride(lanes)`` steps and
    moves ``act_bits`` steps per beat. With ``deterministic``, ``b = 1`` iff
    ``q >= 2**(B-1)`` (the ablation).

    Parameters
    ----------
    lanes : int
        Elements per beat, 1..4096.
    act_bits : int
        Code width B, 1..16.
    seed : int
        Initial LFSR state of lane 0; non-zero and at most ``lfsr.width`` bits.
    deterministic : bool
        Threshold at half scale instead of comparing with a random number.
    lfsr : LfsrSpec
        The random generator.

    Raises
    ------
    ValueError
        Any field out of range, including a zero or over-wide seed; a lane count
        whose lanes' random sequences would be linearly dependent (e.g. 3, 5, 15, 17:
        divisors of ``2**32 - 1``). Up to ``lfsr.width`` lanes are kept independent;
        beyond that dependence is unavoidable with a ``width``-bit seed.
    """

    lanes: int = 32
    act_bits: int = 8
    seed: int = 1
    deterministic: bool = False
    lfsr: LfsrSpec = field(default_factory=LfsrSpec)

    def __post_init__(self) -> None:
        check_int("lanes", self.lanes, 1, MAX_LANES)
        check_int("act_bits", self.act_bits, 1, MAX_ACT_BITS)
        if not isinstance(self.deterministic, bool):
            raise TypeError(f"deterministic must be a bool, not {self.deterministic!r}")
        if not isinstance(self.lfsr, LfsrSpec):
            raise TypeError(f"lfsr must be an LfsrSpec, not {self.lfsr!r}")
        self.lfsr.check_seed(self.seed)
        self.lfsr.lane_stride(self.lanes)
        independent = self.lfsr.independent_lanes(self.lanes)
        if independent < min(self.lanes, self.lfsr.width):
            raise ValueError(
                f"lanes={self.lanes} makes lane {independent} a linear combination of lanes "
                f"0..{independent - 1} (the stride divides 2**{self.lfsr.width} - 1 too "
                f"evenly): the random bits of different lanes would be dependent; use a "
                f"power of two"
            )

    @property
    def lane_stride(self) -> int:
        """LFSR steps between neighbouring lanes' start states."""
        return self.lfsr.lane_stride(self.lanes)

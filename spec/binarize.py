"""SPEC section 3: the stochastic binarizer and its lane organisation."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._base import SpecBase, check_int
from .encoding import MAX_ACT_BITS
from .lfsr import LfsrSpec
from .shared_lfsr import SharedLfsrSpec

#: Most lanes any block accepts; far beyond any FPGA configuration, it only catches typos.
MAX_LANES = 4096

#: The random sources: an LFSR per lane (``lfsr``), or one shared LFSR read through a
#: phase shifter (``shared``, :class:`spec.shared_lfsr.SharedLfsrSpec`).
SOURCES = ("lanes", "shared")


@dataclass(frozen=True)
class BinarizerSpec(SpecBase):
    """``lanes`` parallel binarizers and their random source.

    Element ``k`` of a stream goes to lane ``k % lanes`` in beat ``k // lanes``; lane
    ``j`` compares its code ``q`` with a fresh ``act_bits``-bit random number ``r`` and
    emits ``b = 1`` iff ``r < q`` (so ``P(b=1) = q / 2**B``). With ``deterministic``,
    ``b = 1`` iff ``q >= 2**(B-1)`` (the ablation).

    The random numbers come from ``source``:

    - ``"lanes"``: an LFSR per lane. Lane ``j``'s starts at the seed advanced by
      ``j * lfsr.lane_stride(lanes)`` steps and moves ``act_bits`` steps per beat.
    - ``"shared"``: one LFSR (``shared``) whose state is the seed at beat 0; lane ``j``'s
      code bit ``b`` is the parity of the state under output ``j * act_bits + b`` of
      ``shared.output_map(lanes, act_bits)``.

    Parameters
    ----------
    lanes : int
        Elements per beat, 1..4096.
    act_bits : int
        Code width B, 1..16.
    seed : int
        Initial LFSR state (of lane 0, or of the shared LFSR); non-zero and at most
        :attr:`seed_bits` bits.
    deterministic : bool
        Threshold at half scale instead of comparing with a random number.
    lfsr : LfsrSpec
        The per-lane generator.
    source : str
        ``"lanes"`` or ``"shared"`` (:data:`SOURCES`).
    shared : SharedLfsrSpec
        The shared generator.

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
    source: str = "lanes"
    shared: SharedLfsrSpec = field(default_factory=SharedLfsrSpec)

    def __post_init__(self) -> None:
        check_int("lanes", self.lanes, 1, MAX_LANES)
        check_int("act_bits", self.act_bits, 1, MAX_ACT_BITS)
        if not isinstance(self.deterministic, bool):
            raise TypeError(f"deterministic must be a bool, not {self.deterministic!r}")
        if not isinstance(self.lfsr, LfsrSpec):
            raise TypeError(f"lfsr must be an LfsrSpec, not {self.lfsr!r}")
        if not isinstance(self.shared, SharedLfsrSpec):
            raise TypeError(f"shared must be a SharedLfsrSpec, not {self.shared!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        if self.source == "shared":
            self.shared.check_seed(self.seed)
            self.shared.check_outputs(self.lanes, self.act_bits)
            return
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
    def seed_bits(self) -> int:
        """Width of a seed: the state of the source's LFSR."""
        return self.shared.width if self.source == "shared" else self.lfsr.width

    def output_map(self) -> tuple[int, ...]:
        """The shared source's functionals (:meth:`SharedLfsrSpec.output_map`)."""
        return self.shared.output_map(self.lanes, self.act_bits)

    @property
    def lane_stride(self) -> int:
        """LFSR steps between neighbouring lanes' start states."""
        return self.lfsr.lane_stride(self.lanes)

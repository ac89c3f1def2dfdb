"""SPEC section 6: the binary-weight XNOR / AND / code accumulate datapath."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ._base import SpecBase, check_int
from .binarize import MAX_LANES
from .encoding import MAX_ACT_BITS


class Mode(Enum):
    """Datapath modes; the value is the hardware's 2-bit mode code."""

    XNOR = 0  #: activation bit as +-1: lane gives 2*xnor(a, w) - 1
    AND = 1  #: activation bit as 0/1: lane gives a ? (2w - 1) : 0
    CODE = 2  #: B-bit activation code: lane gives (2w - 1) * q


@dataclass(frozen=True)
class DatapathSpec(SpecBase):
    """Per beat ``lanes`` weight bits and ``lanes`` activation operands, with a per-lane
    valid mask; ``first``/``last`` frame one dot product, whose signed sum is emitted on
    ``last``.

    The accumulator is signed ``acc_bits`` wide. A configuration whose longest dot
    product (``max_beats`` beats of ``lanes`` lanes, every lane at its largest
    magnitude, ``2**act_bits - 1`` in code mode) could overflow it is refused here, so
    neither model nor gateware ever wraps.

    Parameters
    ----------
    lanes : int
        Operands per beat, 1..4096.
    act_bits : int
        Activation code width for code mode, 1..16.
    acc_bits : int
        Signed accumulator width, 2..64.
    max_beats : int
        Longest dot product, in beats.

    Raises
    ------
    ValueError
        A field out of range, or a longest dot product that would overflow.
    """

    lanes: int = 32
    act_bits: int = 8
    acc_bits: int = 32
    max_beats: int = 4096

    def __post_init__(self) -> None:
        check_int("lanes", self.lanes, 1, MAX_LANES)
        check_int("act_bits", self.act_bits, 1, MAX_ACT_BITS)
        check_int("acc_bits", self.acc_bits, 2, 64)
        check_int("max_beats", self.max_beats, 1)
        if self.max_abs_sum > self.acc_max:
            raise ValueError(
                f"a dot product of max_beats={self.max_beats} beats x lanes={self.lanes} at "
                f"act_bits={self.act_bits} can reach {self.max_abs_sum}, beyond the "
                f"{self.acc_bits}-bit accumulator's {self.acc_max}: raise acc_bits or "
                f"lower max_beats"
            )

    @property
    def acc_max(self) -> int:
        """Largest accumulator value, ``2**(acc_bits-1) - 1``."""
        return (1 << (self.acc_bits - 1)) - 1

    @property
    def max_abs_sum(self) -> int:
        """Largest magnitude any dot product can reach (code mode bounds all three)."""
        return self.max_beats * self.lanes * ((1 << self.act_bits) - 1)

    @property
    def max_elements(self) -> int:
        """Longest dot product in elements, ``max_beats * lanes``."""
        return self.max_beats * self.lanes

"""SPEC section 4: the Galois LFSR that feeds the stochastic binarizer."""

from __future__ import annotations

from dataclasses import dataclass

from . import gf2
from ._base import SpecBase, check_int

#: x^32 + x^22 + x^2 + x + 1, maximal length (Xilinx XAPP052, table 3, taps 32,22,2,1).
#: In the right-shifting Galois form tap t sets mask bit t-1: bits 31, 21, 1, 0.
DEFAULT_MASK = 0x80200003

#: Widest state supported: state plus a 16-bit code must fit in 64 bits.
MAX_WIDTH = 48


@dataclass(frozen=True)
class LfsrSpec(SpecBase):
    """A right-shifting Galois LFSR.

    One step, exactly: ``out = s & 1; s >>= 1; if out: s ^= mask``. A random code ``r``
    of B bits is the next B values of ``out``, the first being its least significant
    bit. State 0 is a fixed point and is refused as a seed.

    Parameters
    ----------
    width : int
        State width in bits, 2..48 (so that a state and a 16-bit code fit one 64-bit
        word in the model's vectorised stepper).
    mask : int
        Feedback mask; bit ``width - 1`` must be set (the polynomial has degree
        ``width``) and bit 0 must be set (otherwise the map is not invertible).

    Raises
    ------
    ValueError
        Width out of range, or a mask that is not a degree-``width`` polynomial.
    """

    width: int = 32
    mask: int = DEFAULT_MASK

    def __post_init__(self) -> None:
        check_int("width", self.width, 2, MAX_WIDTH)
        check_int("mask", self.mask, 0, (1 << self.width) - 1)
        if not self.mask >> (self.width - 1) & 1 or not self.mask & 1:
            raise ValueError(
                f"mask must have bits {self.width - 1} and 0 set for a {self.width}-bit "
                f"LFSR, not {self.mask:#x}"
            )

    @property
    def period(self) -> int:
        """Period of a maximal-length polynomial of this width, ``2**width - 1``."""
        return (1 << self.width) - 1

    def check_seed(self, seed: int) -> int:
        """Return ``seed`` if it is a legal state (1..2**width - 1), else raise ValueError."""
        if isinstance(seed, int) and not isinstance(seed, bool) and seed == 0:
            raise ValueError("seed must be non-zero: state 0 is a fixed point of the LFSR")
        return check_int("seed", seed, 1, self.period)

    def lane_stride(self, lanes: int) -> int:
        """Steps between neighbouring lanes' start states, ``floor((2**width - 1) / lanes)``."""
        check_int("lanes", lanes, 1, self.period)
        return self.period // lanes

    def step_map(self) -> list[int]:
        """The one-step state transition as a GF(2) column list (see :mod:`spec.gf2`)."""
        return [self.mask] + [1 << (i - 1) for i in range(1, self.width)]

    def jump_map(self, steps: int) -> list[int]:
        """The map that advances a state by ``steps`` steps (jump-ahead)."""
        check_int("steps", steps, 0)
        return gf2.power(self.step_map(), steps)

    def lane_seeds(self, seed: int, lanes: int) -> list[int]:
        """Start states of ``lanes`` lanes: lane ``j`` is ``seed`` advanced by
        ``j * lane_stride(lanes)`` steps (SPEC section 4)."""
        jump = self.jump_map(self.lane_stride(lanes))
        states = [self.check_seed(seed)]
        for _ in range(1, lanes):
            states.append(gf2.apply(jump, states[-1]))
        return states

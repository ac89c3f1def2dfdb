"""SPEC section 4: the Galois LFSR that feeds the stochastic binarizer."""

from __future__ import annotations

import functools
import math
import random
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
        Feedback mask, tap ``t`` of the polynomial at bit ``t - 1``; bit ``width - 1``
        must be set (otherwise the step is not invertible) and the polynomial must be
        maximal-length.

    Raises
    ------
    ValueError
        Width out of range, or a mask that is not a maximal-length (primitive)
        polynomial of degree ``width``: lane strides assume period ``2**width - 1``.
    """

    width: int = 32
    mask: int = DEFAULT_MASK

    def __post_init__(self) -> None:
        check_int("width", self.width, 2, MAX_WIDTH)
        check_mask(self.width, self.mask)

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
        return galois_step(self.width, self.mask)

    def jump_map(self, steps: int) -> list[int]:
        """The map that advances a state by ``steps`` steps (jump-ahead)."""
        check_int("steps", steps, 0)
        return gf2.power(self.step_map(), steps)

    def code_map(self, act_bits: int) -> list[int]:
        """The GF(2) map from a state to ``(code << width) | next_state``.

        ``code`` is the next ``act_bits`` output bits (first as LSB) and ``next_state``
        the state ``act_bits`` steps later; column ``i`` is found by stepping the basis
        state ``1 << i``, which is valid because the step is linear.
        """
        check_int("act_bits", act_bits, 1)
        cols = []
        for i in range(self.width):
            s, code = 1 << i, 0
            for b in range(act_bits):
                out = s & 1
                code |= out << b
                s >>= 1
                if out:
                    s ^= self.mask
            cols.append(code << self.width | s)
        return cols

    def lane_seeds(self, seed: int, lanes: int) -> list[int]:
        """Start states of ``lanes`` lanes: lane ``j`` is ``seed`` advanced by
        ``j * lane_stride(lanes)`` steps (SPEC section 4)."""
        jump = self.jump_map(self.lane_stride(lanes))
        states = [self.check_seed(seed)]
        for _ in range(1, lanes):
            states.append(gf2.apply(jump, states[-1]))
        return states

    def independent_lanes(self, lanes: int) -> int:
        """How many consecutive lanes have linearly independent start states for every seed.

        Lane ``j`` starts at ``J**j`` applied to the seed, ``J`` the stride's jump. With a
        maximal polynomial, ``J``'s minimal polynomial over GF(2) has degree ``d``, the
        least ``d`` with ``stride * (2**d - 1) = 0 (mod 2**width - 1)``: any ``d + 1``
        lanes are dependent (their codes XOR to zero in every beat, e.g. any 3 lanes
        when ``lanes = 3``), any ``d`` are not. Never more than ``width``.
        """
        stride = self.lane_stride(lanes)
        return next(
            d for d in range(1, self.width + 1) if stride * ((1 << d) - 1) % self.period == 0
        )


def check_mask(width: int, mask: int) -> int:
    """``mask`` if it is a maximal-length feedback mask of a ``width``-bit LFSR (bit
    ``width - 1`` set, period ``2**width - 1``), else ValueError."""
    check_int("mask", mask, 0, (1 << width) - 1)
    if not mask >> (width - 1) & 1:
        raise ValueError(
            f"mask must have bit {width - 1} set for a {width}-bit LFSR "
            f"(else the step is not invertible), not {mask:#x}"
        )
    if not _is_maximal(width, mask):
        raise ValueError(
            f"mask {mask:#x} is not a maximal-length {width}-bit polynomial: "
            f"its period is not 2**{width} - 1 (see XAPP052 for maximal taps)"
        )
    return mask


def galois_step(width: int, mask: int) -> list[int]:
    """One step of the right-shifting Galois LFSR (SPEC section 4) as a GF(2) column
    list: state bit 0 feeds back through ``mask``, every other bit moves down one."""
    return [mask] + [1 << (i - 1) for i in range(1, width)]


def _is_probable_prime(n: int) -> bool:
    """Miller-Rabin with the first 12 primes as bases: exact for n < 3.3e24."""
    bases = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    if n < 2:
        return False
    for p in bases:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime_factors(n: int) -> set[int]:
    """Distinct prime factors of ``n`` (Pollard's rho; fast for ``n < 2**64``)."""
    if n == 1:
        return set()
    if _is_probable_prime(n):
        return {n}
    for p in (2, 3, 5, 7):
        if n % p == 0:
            return {p} | _prime_factors(n // p)
    rng = random.Random(n)
    while True:
        c, x = rng.randrange(1, n), rng.randrange(2, n)
        y, g = x, 1
        while g == 1:
            x = (x * x + c) % n
            y = (y * y + c) % n
            y = (y * y + c) % n
            g = math.gcd(abs(x - y), n)
        if g != n:
            return _prime_factors(g) | _prime_factors(n // g)


@functools.lru_cache(maxsize=64)
def _is_maximal(width: int, mask: int) -> bool:
    """True iff the step map has order exactly ``2**width - 1`` (primitive polynomial)."""
    step = galois_step(width, mask)
    period, one = (1 << width) - 1, gf2.identity(width)
    if gf2.power(step, period) != one:
        return False
    return all(gf2.power(step, period // p) != one for p in _prime_factors(period))

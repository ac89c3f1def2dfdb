"""LfsrSpec's step, jump-ahead, lane seeds and maximality, against slow bit-by-bit stepping.

The reference stepper is SPEC section 4 verbatim; nothing here reuses :mod:`spec.gf2`.
"""

from __future__ import annotations

import pytest

from spec import BinarizerSpec, LfsrSpec

# SPEC section 4: x^32 + x^22 + x^2 + x + 1 as a right-shifting Galois mask.
MASK_32 = 0x80200003
# x^16 + x^14 + x^13 + x^11 + 1 (taps 16, 14, 13, 11 -> mask bits 15, 13, 12, 10) and
# XAPP052 table 3's taps 16, 15, 13, 4: both maximal 16-bit polynomials.
MASKS_16 = (0xB400, 0xD008)


def slow_step(s: int, mask: int) -> int:
    """One step, exactly as SPEC section 4 writes it."""
    out = s & 1
    s >>= 1
    if out:
        s ^= mask
    return s


def slow_advance(s: int, mask: int, steps: int) -> int:
    for _ in range(steps):
        s = slow_step(s, mask)
    return s


def orbit_length(seed: int, mask: int, limit: int) -> int | None:
    """Steps until ``seed`` comes back, or None if not within ``limit`` steps."""
    s = seed
    for i in range(1, limit + 1):
        s = slow_step(s, mask)
        if s == seed:
            return i
    return None


def gf2_rank(vectors: list[int]) -> int:
    """Rank over GF(2) of integers read as bit vectors (Gaussian elimination)."""
    basis: dict[int, int] = {}  # leading bit -> vector
    for v in vectors:
        while v:
            top = v.bit_length() - 1
            if top not in basis:
                basis[top] = v
                break
            v ^= basis[top]
    return len(basis)


@pytest.mark.parametrize(
    ("width", "mask"), [(32, MASK_32), (16, 0xB400), (16, 0xD008)], ids=["32", "0xb400", "0xd008"]
)
def test_step_map_columns_are_one_step_of_each_unit_state(width, mask):
    lfsr = LfsrSpec(width=width, mask=mask)
    assert lfsr.step_map() == [slow_step(1 << i, mask) for i in range(width)]


@pytest.mark.parametrize("steps", [0, 1, 2, 31, 32, 33, 1000, 12345])
@pytest.mark.parametrize("state", [1, 0x80000000, 0xDEADBEEF, 2**32 - 1])
def test_jump_map_matches_slow_stepping_32_bit(state, steps):
    jump = LfsrSpec().jump_map(steps)
    image = 0
    for i, col in enumerate(jump):
        if (state >> i) & 1:
            image ^= col
    assert image == slow_advance(state, MASK_32, steps)


@pytest.mark.parametrize("steps", [3, 16383, 65534, 65535, 65536])
@pytest.mark.parametrize("mask", MASKS_16, ids=hex)
def test_jump_map_matches_slow_stepping_16_bit(mask, steps):
    jump = LfsrSpec(width=16, mask=mask).jump_map(steps)
    # Column i of the map is where unit state 1 << i lands after `steps` steps.
    assert jump == [slow_advance(1 << i, mask, steps) for i in range(16)]


def test_default_jump_by_full_period_is_identity():
    assert LfsrSpec().jump_map(2**32 - 1) == [1 << i for i in range(32)]


@pytest.mark.parametrize("p", [3, 5, 17, 257, 65537])
def test_default_jump_by_period_over_prime_factor_is_not_identity(p):
    """With the test above: the default mask has order 2**32 - 1 exactly, so it is maximal.

    2**32 - 1 = 3 * 5 * 17 * 257 * 65537.
    """
    assert 3 * 5 * 17 * 257 * 65537 == 2**32 - 1
    assert LfsrSpec().jump_map((2**32 - 1) // p) != [1 << i for i in range(32)]


@pytest.mark.parametrize("width", range(2, 9))
def test_mask_accepted_iff_slow_stepper_is_maximal(width):
    """Every mask with the top bit set, exhaustively: accepted exactly when state 1 comes
    back after 2**width - 1 steps (then every non-zero state lies on its orbit)."""
    period = 2**width - 1
    accepted, maximal = set(), set()
    for mask in range(1 << (width - 1), 1 << width):
        if orbit_length(1, mask, period) == period:
            maximal.add(mask)
        try:
            LfsrSpec(width=width, mask=mask)
        except ValueError:
            continue
        accepted.add(mask)
    assert maximal  # the comparison below is not between two empty sets
    assert accepted == maximal


@pytest.mark.parametrize("lanes", [2, 4, 8])
@pytest.mark.parametrize("mask", MASKS_16, ids=hex)
def test_lane_seeds_are_seed_advanced_by_lane_stride(mask, lanes):
    lfsr = LfsrSpec(width=16, mask=mask)
    stride = 65535 // lanes
    expected = [0xACE1]
    for _ in range(1, lanes):
        expected.append(slow_advance(expected[-1], mask, stride))
    assert lfsr.lane_seeds(0xACE1, lanes) == expected


@pytest.mark.parametrize("lanes", [3, 5])
@pytest.mark.parametrize("seed", [1, 0xACE1, 0xFFFF])
def test_lanes_dividing_the_period_xor_to_zero(seed, lanes):
    """Why lanes=3 and lanes=5 are refused: their start states (hence their whole
    sequences) XOR to zero, since the stride's jump J has J**(lanes-1) + ... + J + 1 = 0."""
    mask = MASKS_16[0]
    stride = 65535 // lanes
    assert stride * lanes == 65535
    s, acc = seed, 0
    for _ in range(lanes):
        acc ^= s
        s = slow_advance(s, mask, stride)
    assert s == seed
    assert acc == 0


@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 5, 6, 8, 15, 16, 17])
def test_independent_lanes_is_the_rank_of_the_lane_states(lanes):
    """``independent_lanes`` is the dimension spanned by lane states 0, 1, 2, ..."""
    mask = MASKS_16[0]
    stride = 65535 // lanes
    states = [0xACE1]
    for _ in range(16):
        states.append(slow_advance(states[-1], mask, stride))
    rank = next(j for j in range(1, 18) if gf2_rank(states[: j + 1]) == j)
    assert LfsrSpec(width=16, mask=mask).independent_lanes(lanes) == rank


@pytest.mark.parametrize("lanes", [3, 5, 15, 17])
def test_binarizer_refuses_dependent_16_bit_lanes(lanes):
    with pytest.raises(ValueError, match=rf"^lanes={lanes} makes lane \d+ a linear combination"):
        BinarizerSpec(lanes=lanes, lfsr=LfsrSpec(width=16, mask=MASKS_16[0]))


@pytest.mark.parametrize("lanes", [1, 2, 4, 8, 16, 32, 4096])
def test_binarizer_accepts_power_of_two_16_bit_lanes(lanes):
    assert BinarizerSpec(lanes=lanes, lfsr=LfsrSpec(width=16, mask=MASKS_16[0])).lanes == lanes

"""model.lfsr.random_codes against a slow reference written from SPEC section 4.

The reference never touches :mod:`spec.gf2` or the model: one step is SPEC section 4
verbatim, and the jump-ahead between lanes is either plain stepping (16-bit LFSRs,
whose lane strides are short) or a numpy GF(2) matrix power built from that step.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.lfsr import CodeStream, codes, random_codes, shared_codes
from spec import BinarizerSpec, LfsrSpec, SharedLfsrSpec

# SPEC section 4: x^32 + x^22 + x^2 + x + 1 as a right-shifting Galois mask.
MASK_32 = 0x80200003
# Maximal 16-bit masks: x^16 + x^14 + x^13 + x^11 + 1 (taps 16, 14, 13, 11 -> mask bits
# 15, 13, 12, 10), and XAPP052 table 3's taps 16, 15, 13, 4.
MASKS_16 = (0xB400, 0xD008)
PERIOD_16 = 2**16 - 1  # = 3 * 5 * 17 * 257


def slow_step(s: int, mask: int) -> tuple[int, int]:
    """One step, exactly as SPEC section 4 writes it: (next state, output bit)."""
    out = s & 1
    s >>= 1
    if out:
        s ^= mask
    return s, out


def slow_advance(s: int, mask: int, steps: int) -> int:
    for _ in range(steps):
        s, _ = slow_step(s, mask)
    return s


def slow_codes(s: int, mask: int, act_bits: int, count: int) -> list[int]:
    """``count`` codes of one LFSR: each the next ``act_bits`` outputs, first one the LSB."""
    codes = []
    for _ in range(count):
        r = 0
        for b in range(act_bits):
            s, out = slow_step(s, mask)
            r |= out << b
        codes.append(r)
    return codes


def matrix_jump(steps: int, mask: int, width: int) -> np.ndarray:
    """The ``steps``-step map as a 0/1 matrix (column i: image of state 1 << i)."""
    m = np.zeros((width, width), dtype=np.int64)
    for i in range(width):
        s, _ = slow_step(1 << i, mask)
        m[:, i] = [(s >> row) & 1 for row in range(width)]
    result = np.eye(width, dtype=np.int64)
    while steps:
        if steps & 1:
            result = result @ m % 2
        m = m @ m % 2
        steps >>= 1
    return result


def apply_matrix(matrix: np.ndarray, state: int) -> int:
    width = matrix.shape[0]
    bits = matrix @ np.array([(state >> i) & 1 for i in range(width)]) % 2
    return sum(int(b) << i for i, b in enumerate(bits))


def reference_codes(
    seed: int, lanes: int, act_bits: int, n: int, mask: int = MASK_32, width: int = 32
) -> list[int]:
    """Element k: lane k % lanes, beat k // lanes; lane j starts j * stride steps on."""
    jump = matrix_jump((2**width - 1) // lanes, mask, width)
    starts = [seed]
    for _ in range(1, lanes):
        starts.append(apply_matrix(jump, starts[-1]))
    beats = -(-n // lanes)
    per_lane = [slow_codes(s, mask, act_bits, beats) for s in starts]
    return [per_lane[k % lanes][k // lanes] for k in range(n)]


# --- lane 0 and single-lane streams -----------------------------------------------------


@pytest.mark.parametrize("act_bits", [1, 3, 4, 8, 16])
@pytest.mark.parametrize("seed", [1, 0xDEADBEEF, 2**32 - 1], ids=hex)
def test_single_lane_matches_slow_stepper(seed, act_bits):
    got = random_codes(seed, 1, act_bits, 300)
    assert got.tolist() == slow_codes(seed, MASK_32, act_bits, 300)


def test_long_single_lane_stream_matches_slow_stepper():
    """Long enough that the model cuts the lane into many jump-ahead chunks."""
    got = random_codes(0x12345678, 1, 8, 5001)
    assert got.tolist() == slow_codes(0x12345678, MASK_32, 8, 5001)


@pytest.mark.parametrize("lanes", [2, 32, 4096])
def test_lane_zero_of_many_lanes_matches_slow_stepper(lanes):
    got = random_codes(0xACE1, lanes, 8, lanes * 40 + 1)
    assert got[::lanes].tolist() == slow_codes(0xACE1, MASK_32, 8, 41)


def test_first_codes_from_seed_one():
    # Worked by hand from SPEC section 4: from s = 1 the first outputs are
    # 1, 1, 0, 1 (the mask's low bits feed back), so r = 0b1011 = 11.
    assert random_codes(1, 1, 4, 1).tolist() == [11]


# --- other lanes: jump-ahead ------------------------------------------------------------


@pytest.mark.parametrize("lanes", [2, 4, 8])
@pytest.mark.parametrize("mask", MASKS_16, ids=hex)
def test_16_bit_lanes_start_one_stride_apart(mask, lanes):
    """Lane j's codes come from the seed stepped j * floor(65535 / lanes) times, slowly."""
    stride = PERIOD_16 // lanes
    beats = 200
    got = random_codes(0xACE1, lanes, 4, lanes * beats, lfsr=LfsrSpec(width=16, mask=mask))
    start = 0xACE1
    for j in range(lanes):
        assert got[j::lanes].tolist() == slow_codes(start, mask, 4, beats), f"lane {j}"
        start = slow_advance(start, mask, stride)


@pytest.mark.parametrize("act_bits", [1, 8])
@pytest.mark.parametrize("lanes", [2, 6, 32, 33])
def test_32_bit_lanes_match_matrix_jump_reference(lanes, act_bits):
    n = lanes * 30 + lanes // 2  # a partial last beat
    got = random_codes(0xBEEF, lanes, act_bits, n)
    assert got.tolist() == reference_codes(0xBEEF, lanes, act_bits, n)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(1, 2**32 - 1),
    lanes=st.sampled_from([1, 2, 4, 7, 8, 32]),
    act_bits=st.integers(1, 16),
    n=st.integers(0, 400),
)
def test_random_configurations_match_reference(seed, lanes, act_bits, n):
    got = random_codes(seed, lanes, act_bits, n)
    assert got.tolist() == reference_codes(seed, lanes, act_bits, n)


def test_returns_uint16_of_length_n():
    got = random_codes(1, 4, 16, 10)
    assert (got.dtype, got.shape) == (np.dtype(np.uint16), (10,))


def test_zero_elements_give_empty_array():
    got = random_codes(1, 4, 8, 0)
    assert (got.dtype, got.shape) == (np.dtype(np.uint16), (0,))


# --- period of a 16-bit maximal LFSR --------------------------------------------------


@pytest.mark.parametrize("mask", MASKS_16, ids=hex)
@pytest.mark.parametrize("seed", [1, 0xACE1])
def test_slow_stepper_returns_to_seed_after_exactly_65535_steps(seed, mask):
    """Checks the reference polynomials themselves: maximal, so period 2**16 - 1."""
    s, first_return = seed, None
    for i in range(1, PERIOD_16 + 1):
        s, _ = slow_step(s, mask)
        if s == seed:
            first_return = i
            break
    assert first_return == PERIOD_16


@pytest.fixture(scope="module", params=MASKS_16, ids=hex)
def bit_stream_16(request) -> np.ndarray:
    """Two periods and a bit of a 16-bit LFSR's output, one bit per element."""
    lfsr = LfsrSpec(width=16, mask=request.param)
    return random_codes(1, 1, 1, 2 * PERIOD_16 + 1000, lfsr=lfsr)


def test_output_repeats_with_period_65535(bit_stream_16):
    assert np.array_equal(bit_stream_16[PERIOD_16:], bit_stream_16[:-PERIOD_16])


@pytest.mark.parametrize("p", [3, 5, 17, 257])
def test_output_has_no_shorter_period(bit_stream_16, p):
    """Any period divides 65535, so failing 65535 / p for each prime p rules out all."""
    d = PERIOD_16 // p
    assert not np.array_equal(bit_stream_16[d:], bit_stream_16[:-d])


def test_one_period_has_32768_ones(bit_stream_16):
    """An m-sequence of degree 16 has 2**15 ones and 2**15 - 1 zeros per period."""
    assert int(bit_stream_16[:PERIOD_16].sum()) == 2**15


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        pytest.param({"seed": 0}, ValueError, r"^seed must be non-zero", id="zero-seed"),
        pytest.param(
            {"seed": 2**32},
            ValueError,
            r"^seed must be in 1\.\.4294967295, not 4294967296$",
            id="over-wide-seed",
        ),
        pytest.param({"seed": True}, TypeError, r"^seed must be an integer", id="bool-seed"),
        pytest.param({"n": -1}, ValueError, r"^n must be at least 0, not -1$", id="negative-n"),
        pytest.param({"n": 4.0}, TypeError, r"^n must be an integer, not 4\.0$", id="float-n"),
        pytest.param({"n": True}, TypeError, r"^n must be an integer, not True$", id="bool-n"),
        pytest.param(
            {"act_bits": 0}, ValueError, r"^act_bits must be in 1\.\.16, not 0$", id="act-bits-0"
        ),
        pytest.param(
            {"act_bits": 17}, ValueError, r"^act_bits must be in 1\.\.16, not 17$", id="act-bits-17"
        ),
        pytest.param(
            {"lanes": 0}, ValueError, r"^lanes must be in 1\.\.4096, not 0$", id="lanes-0"
        ),
        pytest.param(
            {"lanes": True}, TypeError, r"^lanes must be an integer, not True$", id="bool-lanes"
        ),
        pytest.param(
            {"lanes": 3}, ValueError, r"^lanes=3 makes lane 2 a linear combination", id="lanes-3"
        ),
        pytest.param(
            {"seed": 2**16, "lfsr": LfsrSpec(width=16, mask=MASKS_16[0])},
            ValueError,
            r"^seed must be in 1\.\.65535, not 65536$",
            id="seed-over-16-bit-lfsr",
        ),
    ],
)
def test_bad_argument_is_refused(kwargs, exc, match):
    args = {"seed": 1, "lanes": 4, "act_bits": 8, "n": 16, **kwargs}
    with pytest.raises(exc, match=match):
        random_codes(**args)


# XAPP052 table 3, 48 bits: taps 48, 47, 21, 20 -> mask bits 47, 46, 20, 19.
MASK_48 = 0xC00000180000


@pytest.mark.parametrize("lanes", [1, 4])
def test_widest_state_with_widest_code_matches_reference(lanes):
    """A 48-bit state and a 16-bit code fill the model's 64-bit words exactly."""
    lfsr = LfsrSpec(width=48, mask=MASK_48)
    seed = 0xFEDCBA987654
    got = random_codes(seed, lanes, 16, lanes * 50, lfsr=lfsr)
    assert got.tolist() == reference_codes(seed, lanes, 16, lanes * 50, mask=MASK_48, width=48)


# --- the shared source (docs/formats.md section 3b) ---------------------------------


def slow_shared_codes(seed: int, lanes: int, act_bits: int, n: int, source) -> list[int]:
    """One state stepped by SPEC section 4's step, from the seed moved on ``warmup``
    beats; each code bit the parity of the state under its output's functional."""
    funcs = source.output_map(lanes, act_bits)
    state, codes = slow_advance(seed, source.mask, source.steps * source.warmup), []
    while len(codes) < n:
        for j in range(lanes):
            bits = [bin(state & funcs[j * act_bits + b]).count("1") & 1 for b in range(act_bits)]
            codes.append(sum(bit << b for b, bit in enumerate(bits)))
        state = slow_advance(state, source.mask, source.steps)
    return codes[:n]


@pytest.mark.parametrize(
    ("lanes", "act_bits", "steps", "n"),
    [(1, 8, 1, 300), (3, 5, 1, 301), (32, 8, 1, 32 * 40 + 7), (5, 16, 3, 400), (2, 1, 1, 99)],
)
def test_shared_codes_match_slow_stepping(lanes, act_bits, steps, n):
    source = SharedLfsrSpec(steps=steps)
    seed = 0x0123_4567_89AB_CDEF
    got = shared_codes(seed, lanes, act_bits, n, source=source)
    assert (got.dtype, got.shape) == (np.dtype(np.uint16), (n,))
    assert got.tolist() == slow_shared_codes(seed, lanes, act_bits, n, source)


def test_codes_follows_the_spec_source():
    shared = BinarizerSpec(lanes=4, act_bits=8, seed=0xACE1, source="shared")
    lanes = BinarizerSpec(lanes=4, act_bits=4, seed=0xACE1, lfsr=LfsrSpec(width=16, mask=0xB400))
    assert codes(shared, 50).tolist() == shared_codes(0xACE1, 4, 8, 50).tolist()
    assert codes(lanes, 50).tolist() == reference_codes(0xACE1, 4, 4, 50, mask=0xB400, width=16)
    assert codes(shared, 0).shape == (0,)


@pytest.mark.parametrize("source", ["lanes", "shared"])
def test_code_stream_goes_on_a_fresh_beat_each_take(source):
    """Pieces of a stream are the source's codes, each piece from a new beat: lanes
    left over in a piece's last beat are skipped. The slow references check the
    whole run, so the chunked jump-ahead carries the state across pieces."""
    lanes, act_bits, seed = 6, 6, 0x2468_ACE1
    spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, source=source)
    sizes = [7, 0, 1, 23, 5, 1000, 3]
    beats = [-(-n // lanes) for n in sizes]
    total = lanes * sum(beats)
    if source == "shared":
        whole = slow_shared_codes(seed, lanes, act_bits, total, SharedLfsrSpec())
    else:
        whole = reference_codes(seed, lanes, act_bits, total)
    stream, at = CodeStream(spec), 0
    for n, b in zip(sizes, beats, strict=True):
        assert stream.take(n).tolist() == whole[at : at + n]
        at += b * lanes
    assert stream.beat == sum(beats)


@pytest.mark.parametrize("source", ["lanes", "shared"])
def test_code_stream_state_round_trips(source):
    spec = BinarizerSpec(lanes=4, act_bits=8, seed=99, source=source)
    a, b = CodeStream(spec), CodeStream(spec)
    a.take(100)
    b.load_state_dict(a.state_dict())
    assert b.beat == a.beat and b.take(50).tolist() == a.take(50).tolist()
    other = CodeStream(BinarizerSpec(lanes=8, act_bits=8, seed=99, source=source))
    if source == "lanes":
        with pytest.raises(ValueError, match="holds 4 LFSR states, this source has 8"):
            other.load_state_dict(a.state_dict())

"""model.binarize: exact bits against a slow reference, and the statistics of SPEC section 3.

Statistical bounds come from the sample size: a mean of N Bernoulli(p) bits has standard
deviation sqrt(p(1-p)/N), and a sample correlation of N independent pairs about
1/sqrt(N); every check allows 5 of those. The draws are deterministic (fixed seeds), so
the tests cannot flake: a real bias or dependence is what fails them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.binarize import binarize, threshold

# SPEC section 4: x^32 + x^22 + x^2 + x + 1 as a right-shifting Galois mask.
MASK_32 = 0x80200003
SEED = 0x2545F491

N_MEAN = 2**17  # draws per mean (>= 1e5)
N_CORR = 2**19  # draws per correlation test: 2**14 beats at 32 lanes


def slow_step(s: int) -> tuple[int, int]:
    """One step, exactly as SPEC section 4 writes it: (next state, output bit)."""
    out = s & 1
    s >>= 1
    if out:
        s ^= MASK_32
    return s, out


def slow_codes(s: int, act_bits: int, count: int) -> list[int]:
    codes = []
    for _ in range(count):
        r = 0
        for b in range(act_bits):
            s, out = slow_step(s)
            r |= out << b
        codes.append(r)
    return codes


def jumped(state: int, steps: int) -> int:
    """``state`` advanced ``steps`` steps, by a numpy GF(2) matrix power of slow_step."""
    m = np.zeros((32, 32), dtype=np.int64)
    for i in range(32):
        s, _ = slow_step(1 << i)
        m[:, i] = [(s >> row) & 1 for row in range(32)]
    power = np.eye(32, dtype=np.int64)
    while steps:
        if steps & 1:
            power = power @ m % 2
        m = m @ m % 2
        steps >>= 1
    bits = power @ np.array([(state >> i) & 1 for i in range(32)]) % 2
    return sum(int(b) << i for i, b in enumerate(bits))


def reference_bits(codes: list[int], seed: int, lanes: int, act_bits: int) -> list[int]:
    """SPEC sections 3 and 4 by hand: element k compares with lane k % lanes' code of
    beat k // lanes; b = 1 iff r < q."""
    starts = [seed]
    for _ in range(1, lanes):
        starts.append(jumped(starts[-1], (2**32 - 1) // lanes))
    beats = -(-len(codes) // lanes)
    r = [slow_codes(s, act_bits, beats) for s in starts]
    return [int(r[k % lanes][k // lanes] < q) for k, q in enumerate(codes)]


def probe_codes(act_bits: int) -> list[int]:
    """0, 1, a quarter, a third, half, and full scale: distinct codes, sorted."""
    top = 2**act_bits
    return sorted({0, 1, top // 4, top // 3, top // 2, top - 1})


STAT_CASES = [
    pytest.param(b, lanes, q, id=f"B{b}-lanes{lanes}-q{q}")
    for b in (1, 4, 8)
    for lanes in (1, 8, 32)
    for q in probe_codes(b)
]

# Codes strictly between 0 and 1 in probability: the only ones whose bits can correlate.
CORR_CASES = [
    pytest.param(b, lanes, q, id=f"B{b}-lanes{lanes}-q{q}")
    for b in (1, 4, 8)
    for lanes in (1, 8, 32)
    for q in probe_codes(b)
    if q > 0
]


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64) - x.mean()
    y = y.astype(np.float64) - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    assert denom > 0, "a constant sequence has no correlation to test"
    return float((x * y).sum()) / denom


# --- exact bits -------------------------------------------------------------------------


@pytest.mark.parametrize("act_bits", [1, 4, 8, 16])
@pytest.mark.parametrize("lanes", [1, 2, 32])
def test_bits_match_slow_reference(lanes, act_bits):
    rng = np.random.default_rng(act_bits * 100 + lanes)
    codes = rng.integers(0, 2**act_bits, size=lanes * 20 + 3).tolist()
    got = binarize(codes, seed=SEED, lanes=lanes, act_bits=act_bits)
    assert got.tolist() == reference_bits(codes, SEED, lanes, act_bits)


def test_shape_is_kept_and_stream_order_is_c_order():
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=(3, 5, 7))
    got = binarize(codes, seed=SEED, lanes=2, act_bits=8)
    assert (got.shape, got.dtype) == ((3, 5, 7), np.dtype(np.uint8))
    assert got.reshape(-1).tolist() == reference_bits(codes.reshape(-1).tolist(), SEED, 2, 8)


def test_threshold_is_r_less_than_q():
    q = np.array([0, 0, 5, 5, 5, 255])
    r = np.array([0, 7, 4, 5, 6, 254])
    assert threshold(q, r).tolist() == [False, False, True, False, False, True]


# --- statistics -------------------------------------------------------------------------


@pytest.mark.parametrize(("act_bits", "lanes", "q"), STAT_CASES)
def test_mean_is_q_over_two_to_the_b(act_bits, lanes, q):
    bits = binarize(np.full(N_MEAN, q), seed=SEED, lanes=lanes, act_bits=act_bits)
    p = q / 2**act_bits
    sigma = math.sqrt(p * (1 - p) / N_MEAN)
    assert abs(bits.mean() - p) <= 5 * sigma


@pytest.mark.parametrize("act_bits", [1, 4, 8, 16])
@pytest.mark.parametrize("lanes", [1, 8, 32])
def test_code_zero_never_gives_one(lanes, act_bits):
    bits = binarize(np.zeros(N_MEAN, dtype=np.int64), seed=SEED, lanes=lanes, act_bits=act_bits)
    assert bits.size == N_MEAN
    assert not bits.any()


@pytest.mark.parametrize("act_bits", [4, 8])
def test_full_scale_code_sometimes_gives_zero(act_bits):
    """q = 2**B - 1 gives 1 with probability 1 - 2**-B, not 1: zeros occur, about as
    often as 2**-B predicts."""
    bits = binarize(np.full(N_MEAN, 2**act_bits - 1), seed=SEED, lanes=8, act_bits=act_bits)
    p_zero = 2.0**-act_bits
    zeros = int((bits == 0).sum())
    assert abs(zeros - p_zero * N_MEAN) <= 5 * math.sqrt(p_zero * (1 - p_zero) * N_MEAN)
    assert zeros > 0


@pytest.mark.parametrize(("act_bits", "lanes", "q"), [c for c in STAT_CASES if c.values[1] > 1])
def test_every_lane_is_unbiased(act_bits, lanes, q):
    bits = binarize(np.full(N_MEAN, q), seed=SEED, lanes=lanes, act_bits=act_bits)
    per_lane = bits.reshape(-1, lanes)  # column j: lane j, one row per beat
    p = q / 2**act_bits
    sigma = math.sqrt(p * (1 - p) / per_lane.shape[0])
    worst = np.abs(per_lane.mean(axis=0) - p).max()
    assert worst <= 5 * sigma


@pytest.mark.parametrize(("act_bits", "lanes", "q"), [c for c in CORR_CASES if c.values[1] > 1])
def test_neighbouring_lanes_are_uncorrelated(act_bits, lanes, q):
    bits = binarize(np.full(N_CORR, q), seed=SEED, lanes=lanes, act_bits=act_bits)
    per_lane = bits.reshape(-1, lanes)
    bound = 5 / math.sqrt(per_lane.shape[0])
    pairs = [(j, j + 1) for j in range(lanes - 1)] + [(0, lanes - 1)]
    worst = max(abs(correlation(per_lane[:, a], per_lane[:, b])) for a, b in pairs)
    assert worst <= bound


@pytest.mark.parametrize(("act_bits", "lanes", "q"), CORR_CASES)
def test_consecutive_beats_of_a_lane_are_uncorrelated(act_bits, lanes, q):
    bits = binarize(np.full(N_CORR, q), seed=SEED, lanes=lanes, act_bits=act_bits)
    per_lane = bits.reshape(-1, lanes)
    bound = 5 / math.sqrt(per_lane.shape[0] - 1)
    worst = max(abs(correlation(per_lane[:-1, j], per_lane[1:, j])) for j in range(lanes))
    assert worst <= bound


# --- deterministic ablation -----------------------------------------------------------


@pytest.mark.parametrize("act_bits", [1, 2, 4, 8, 16])
def test_deterministic_is_code_at_least_half_scale(act_bits):
    codes = list(range(2**act_bits))
    got = binarize(codes, seed=SEED, lanes=4, act_bits=act_bits, deterministic=True)
    assert got.tolist() == [1 if q >= 2 ** (act_bits - 1) else 0 for q in codes]


def test_deterministic_ignores_seed():
    codes = np.arange(256).repeat(4)
    a = binarize(codes, seed=1, lanes=8, act_bits=8, deterministic=True)
    b = binarize(codes, seed=0xFFFF, lanes=8, act_bits=8, deterministic=True)
    assert np.array_equal(a, b)


def test_stochastic_depends_on_seed():
    codes = np.full(1000, 128)
    a = binarize(codes, seed=1, lanes=8, act_bits=8)
    b = binarize(codes, seed=2, lanes=8, act_bits=8)
    assert not np.array_equal(a, b)


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "kwargs", "exc", "match"),
    [
        pytest.param([0, 256], {}, ValueError,
                     r"^codes must hold values in 0\.\.255, found 0\.\.256$", id="code-too-big"),
        pytest.param([-1, 3], {}, ValueError,
                     r"^codes must hold values in 0\.\.255, found -1\.\.3$", id="negative-code"),
        pytest.param([16], {"act_bits": 4}, ValueError, r"^codes must hold values in 0\.\.15",
                     id="code-too-big-4-bit"),
        pytest.param([0.5], {}, TypeError, r"^codes must be an integer array, not dtype float64$",
                     id="float-codes"),
        pytest.param([1], {"seed": 0}, ValueError, r"^seed must be non-zero", id="zero-seed"),
        pytest.param([1], {"act_bits": 0}, ValueError, r"^act_bits must be in 1\.\.16, not 0$",
                     id="act-bits-0"),
        pytest.param([1], {"lanes": 0}, ValueError, r"^lanes must be in 1\.\.4096, not 0$",
                     id="lanes-0"),
        pytest.param([1], {"deterministic": 1}, TypeError, r"^deterministic must be a bool",
                     id="deterministic-int"),
    ],
)  # fmt: skip
def test_bad_argument_is_refused(codes, kwargs, exc, match):
    args = {"seed": SEED, "lanes": 4, "act_bits": 8, **kwargs}
    with pytest.raises(exc, match=match):
        binarize(codes, **args)

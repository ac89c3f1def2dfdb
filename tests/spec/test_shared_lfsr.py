"""SharedLfsrSpec: the output map's guarantees, checked in GF(2) from slow stepping.

Nothing here reuses :mod:`spec.gf2` or the spec's discrete logarithms: the step is SPEC
section 4 verbatim, the claimed phases are checked by raising the step's transpose to
them (0/1 numpy matrices), and ranks come from the plain elimination of
``tests/spec/test_lfsr.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from spec import BinarizerSpec, SharedLfsrSpec

from .test_lfsr import gf2_rank, slow_advance

MASK_64 = 0xF86489CA0B768DAE  # the default: 32 feedback taps


def unit_images(spec: SharedLfsrSpec, steps: int) -> list[int]:
    """Where each unit state lands after ``steps`` slow steps."""
    return [slow_advance(1 << i, spec.mask, steps) for i in range(spec.width)]


def moved(functional: int, images: list[int]) -> int:
    """The functional that reads, from a state, what ``functional`` reads from the state
    ``images`` maps it to: bit ``i`` is the parity of ``functional`` on image ``i``."""
    return sum((bin(functional & image).count("1") & 1) << i for i, image in enumerate(images))


def phase_holds(spec: SharedLfsrSpec, functionals: list[int], phases: list[int]) -> np.ndarray:
    """Whether each functional is state bit 0 moved ``phase`` steps later: the 0/1
    matrix of one step's transpose, raised by repeated squaring."""
    n = spec.width
    step = np.array([[moved(1 << j, unit_images(spec, 1)) >> i & 1 for j in range(n)]
                     for i in range(n)], dtype=np.int64)  # fmt: skip
    vectors = np.zeros((n, len(functionals)), dtype=np.int64)
    vectors[0] = 1  # state bit 0, phase 0
    d = np.array(phases, dtype=np.uint64)
    power = step
    for b in range(n):
        pick = (d >> np.uint64(b)) & np.uint64(1) == 1
        vectors[:, pick] = power @ vectors[:, pick] % 2
        power = power @ power % 2
    want = np.array([[c >> i & 1 for c in functionals] for i in range(n)], dtype=np.int64)
    return (vectors == want).all(axis=0)


@pytest.fixture(scope="module")
def phases_of():
    cache = {}

    def get(spec: SharedLfsrSpec, lanes: int, act_bits: int) -> tuple[list[int], list[int]]:
        if (spec, lanes, act_bits) not in cache:
            funcs = list(spec.output_map(lanes, act_bits))
            cache[spec, lanes, act_bits] = (funcs, spec.phases(funcs))
        return cache[spec, lanes, act_bits]

    return get


CONFIGS = [(SharedLfsrSpec(), 32, 8), (SharedLfsrSpec(), 128, 8), (SharedLfsrSpec(), 16, 4),
           (SharedLfsrSpec(steps=8, taps=4), 8, 8)]  # fmt: skip
IDS = ["32x8", "128x8", "16x4", "steps8_taps4_8x8"]


@pytest.mark.parametrize(("spec", "lanes", "act_bits"), CONFIGS, ids=IDS)
def test_every_output_reads_the_sequence_at_its_stated_phase(spec, lanes, act_bits, phases_of):
    funcs, phases = phases_of(spec, lanes, act_bits)
    assert len(funcs) == lanes * act_bits
    assert all(bin(c).count("1") == spec.taps for c in funcs)
    assert phase_holds(spec, funcs, phases).all()
    # The check can fail: a phase off by one is refused for every output.
    assert not phase_holds(spec, funcs, [(d + 1) % spec.period for d in phases]).any()


@pytest.mark.parametrize(("spec", "lanes", "act_bits"), CONFIGS, ids=IDS)
def test_phases_are_distinct_and_far_apart(spec, lanes, act_bits, phases_of):
    _, phases = phases_of(spec, lanes, act_bits)
    ring = sorted(phases)
    gaps = [b - a for a, b in itertools.pairwise(ring)] + [ring[0] + spec.period - ring[-1]]
    assert min(gaps) >= spec.separation == 2**spec.separation_bits


@pytest.mark.parametrize(("spec", "lanes", "act_bits"), CONFIGS, ids=IDS)
def test_two_lanes_and_a_lane_a_beat_apart_are_independent(spec, lanes, act_bits):
    funcs = spec.output_map(lanes, act_bits)
    lane = [list(funcs[j * act_bits : (j + 1) * act_bits]) for j in range(lanes)]
    beat = unit_images(spec, spec.steps)
    for j in range(lanes):
        assert gf2_rank(lane[j] + [moved(c, beat) for c in lane[j]]) == 2 * act_bits, j
        for k in range(j):
            assert gf2_rank(lane[j] + lane[k]) == 2 * act_bits, (j, k)


def test_the_checks_above_catch_a_map_without_its_guarantees():
    """Outputs a step apart (each the one before moved a step: mostly the same taps
    shifted up one) are one phase apart, and a lane made of them is dependent on itself
    a beat later: what the construction avoids."""
    spec = SharedLfsrSpec()
    beat = unit_images(spec, 1)
    funcs = [0b111 << 1]
    for _ in range(7):
        funcs.append(moved(funcs[-1], beat))
    phases = spec.phases(funcs)
    assert phase_holds(spec, funcs, phases).all()
    assert {(b - a) % spec.period for a, b in itertools.pairwise(phases)} == {1}
    assert gf2_rank(funcs + [moved(c, beat) for c in funcs]) < 16


def test_the_map_is_deterministic_and_depends_on_every_field():
    spec = SharedLfsrSpec()
    base = spec.output_map(8, 8)
    assert SharedLfsrSpec().output_map(8, 8) == base
    assert spec.output_map(8, 4) != base[:32]
    assert SharedLfsrSpec(separation_bits=39).output_map(8, 8) != base


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 62, "mask": 1 << 61, "separation_bits": 20}, "prime factor 2147483647"),
        ({"mask": 0x5800000000000000}, "bit 63 set"),
        ({"mask": 0x8000000000000003}, "not a maximal-length"),
        ({"steps": 0}, "steps"),
        ({"taps": 5}, "taps"),
        ({"separation_bits": 49}, "separation_bits"),
    ],
)
def test_bad_fields_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SharedLfsrSpec(**kwargs)


def test_too_many_outputs_are_refused_with_the_limit():
    with pytest.raises(ValueError, match="at most 1953 outputs"):
        SharedLfsrSpec().output_map(245, 8)
    with pytest.raises(ValueError, match="act_bits at most 15"):
        narrow = SharedLfsrSpec(width=30, mask=0x20000029, separation_bits=8)
        BinarizerSpec(lanes=2, act_bits=16, seed=1, source="shared", shared=narrow)


def test_binarizer_spec_names_its_source_and_checks_the_seed_against_it():
    wide = 2**64 - 1
    shared = BinarizerSpec(seed=wide, source="shared")
    assert shared.seed_bits == 64 and BinarizerSpec().seed_bits == 32
    assert shared.output_map() == SharedLfsrSpec().output_map(32, 8)
    with pytest.raises(ValueError, match="seed"):
        BinarizerSpec(seed=wide)  # 64 bits do not fit the per-lane LFSR
    with pytest.raises(ValueError, match="non-zero"):
        BinarizerSpec(seed=0, source="shared")
    with pytest.raises(ValueError, match="source must be one of lanes, shared"):
        BinarizerSpec(source="one")


def test_the_worked_example_of_docs_formats_is_true():
    """docs/formats.md section 3b: two lanes of four bits, seed 0xACE1."""
    spec = SharedLfsrSpec()
    s0 = slow_advance(0xACE1, MASK_64, 64)
    assert s0 == spec.start(0xACE1) == 0x03CA76FF04971203
    funcs = spec.output_map(2, 4)
    taps = [[i for i in range(64) if c >> i & 1] for c in funcs]
    assert taps == [[19, 22, 53], [9, 22, 39], [0, 18, 61], [2, 18, 35],
                    [20, 50, 61], [0, 42, 63], [12, 43, 59], [17, 35, 37]]  # fmt: skip
    assert spec.phases(list(funcs))[:2] == [7124134779609349222, 9885327254905493283]
    assert [bin(s0 & c).count("1") & 1 for c in funcs] == [0, 0, 0, 0, 1, 0, 1, 1]
    assert slow_advance(s0, MASK_64, 1) == 0xF981B2B5893D04AF

"""Validation, derived properties and exports of the spec dataclasses (SPEC sections 2-6).

Every refusal is checked by exception type *and* message text: the message is part of
the interface (STYLE.md, "Constructors check their arguments"). Each refusal has a
neighbouring acceptance at the boundary, so a constructor that refused everything would
fail here too.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

import spec
from spec import (
    ActivationEncoding,
    BinarizerSpec,
    DatapathSpec,
    LfsrSpec,
    Mode,
    PackingSpec,
    WeightEncoding,
)

# SPEC section 4's default polynomial, written out here rather than read from `spec`.
MASK_32 = 0x80200003

# --- exports -------------------------------------------------------------------------


def test_every_name_in_all_resolves():
    missing = [name for name in spec.__all__ if not hasattr(spec, name)]
    assert missing == []


def test_all_has_no_duplicates():
    assert len(spec.__all__) == len(set(spec.__all__))


def test_every_exported_spec_class_is_in_defaults():
    """``spec.fingerprint()`` covers the contract only if ``defaults()`` lists every format."""
    exported = {
        obj
        for obj in (getattr(spec, name) for name in spec.__all__)
        if isinstance(obj, type) and issubclass(obj, spec.SpecBase) and obj is not spec.SpecBase
    }
    # DeviceSpec is not a format: it composes the formats with a device's sizes, and the
    # formats inside the default device are exactly the shipped ones. An IntNetSpec is
    # the shape of one trained network: its files record its own fingerprint; an
    # EngineInfo names one network in one device (no default).
    composed = {spec.DeviceSpec, spec.IntNetSpec, spec.EngineInfo}
    assert exported - composed == {type(s) for s in spec.defaults()}
    device = spec.DeviceSpec()
    for part in (device.binarizer, device.packing, device.link):
        assert part.fingerprint() in {s.fingerprint() for s in spec.defaults()}, part


@pytest.mark.parametrize("instance", spec.defaults(), ids=lambda s: type(s).__name__)
def test_spec_is_frozen(instance):
    field = dataclasses.fields(instance)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(instance, field, getattr(instance, field))


# --- refusals ------------------------------------------------------------------------

# (id, constructor, exception type, regex the message must match)
REFUSALS = [
    # ActivationEncoding
    ("act-bits-0", lambda: ActivationEncoding(act_bits=0), ValueError,
     r"^act_bits must be in 1\.\.16, not 0$"),
    ("act-bits-17", lambda: ActivationEncoding(act_bits=17), ValueError,
     r"^act_bits must be in 1\.\.16, not 17$"),
    ("act-bits-bool", lambda: ActivationEncoding(act_bits=True), TypeError,
     r"^act_bits must be an integer, not True$"),
    ("act-bits-float", lambda: ActivationEncoding(act_bits=8.0), TypeError,
     r"^act_bits must be an integer, not 8\.0$"),
    # WeightEncoding
    ("weight-one-negative", lambda: WeightEncoding(one_is_positive=False), ValueError,
     r"one_is_positive must be True"),
    ("weight-alpha-fan-in-0", lambda: WeightEncoding.alpha(0), ValueError,
     r"^fan_in must be at least 1, not 0$"),
    ("weight-alpha-fan-in-bool", lambda: WeightEncoding.alpha(True), TypeError,
     r"^fan_in must be an integer, not True$"),
    # LfsrSpec
    ("lfsr-width-1", lambda: LfsrSpec(width=1, mask=1), ValueError,
     r"^width must be in 2\.\.48, not 1$"),
    ("lfsr-width-49", lambda: LfsrSpec(width=49, mask=(1 << 48) | 1), ValueError,
     r"^width must be in 2\.\.48, not 49$"),
    ("lfsr-width-bool", lambda: LfsrSpec(width=True, mask=1), TypeError,
     r"^width must be an integer, not True$"),
    ("lfsr-mask-too-wide", lambda: LfsrSpec(width=16, mask=0x18001), ValueError,
     r"^mask must be in 0\.\.65535, not 98305$"),
    ("lfsr-mask-negative", lambda: LfsrSpec(width=16, mask=-1), ValueError,
     r"^mask must be in 0\.\.65535, not -1$"),
    ("lfsr-mask-no-top-bit", lambda: LfsrSpec(width=16, mask=0x0805), ValueError,
     r"^mask must have bits? 15 .*not 0x805$"),
    ("lfsr-mask-zero", lambda: LfsrSpec(width=16, mask=0), ValueError,
     r"^mask must have bits? 15 .*not 0x0$"),
    ("lfsr-mask-not-maximal", lambda: LfsrSpec(mask=0x80000001), ValueError,
     r"^mask 0x80000001 is not a maximal-length 32-bit polynomial"),
    ("lfsr-mask-bool", lambda: LfsrSpec(width=2, mask=True), TypeError,
     r"^mask must be an integer, not True$"),
    ("lfsr-seed-zero", lambda: LfsrSpec().check_seed(0), ValueError,
     r"^seed must be non-zero: state 0 is a fixed point"),
    ("lfsr-seed-over-wide", lambda: LfsrSpec().check_seed(2**32), ValueError,
     r"^seed must be in 1\.\.4294967295, not 4294967296$"),
    ("lfsr-seed-bool", lambda: LfsrSpec().check_seed(True), TypeError,
     r"^seed must be an integer, not True$"),
    ("lfsr-jump-negative", lambda: LfsrSpec().jump_map(-1), ValueError,
     r"^steps must be at least 0, not -1$"),
    ("lfsr-stride-lanes-0", lambda: LfsrSpec().lane_stride(0), ValueError,
     r"^lanes must be in 1\.\.4294967295, not 0$"),
    # BinarizerSpec
    ("bin-lanes-0", lambda: BinarizerSpec(lanes=0), ValueError,
     r"^lanes must be in 1\.\.4096, not 0$"),
    ("bin-lanes-4097", lambda: BinarizerSpec(lanes=4097), ValueError,
     r"^lanes must be in 1\.\.4096, not 4097$"),
    ("bin-lanes-bool", lambda: BinarizerSpec(lanes=True), TypeError,
     r"^lanes must be an integer, not True$"),
    ("bin-lanes-3-dependent", lambda: BinarizerSpec(lanes=3), ValueError,
     r"^lanes=3 makes lane 2 a linear combination of lanes 0\.\.1"),
    ("bin-lanes-over-period", lambda: BinarizerSpec(lanes=4, lfsr=LfsrSpec(width=2, mask=3)),
     ValueError, r"^lanes must be in 1\.\.3, not 4$"),
    ("bin-act-bits-0", lambda: BinarizerSpec(act_bits=0), ValueError,
     r"^act_bits must be in 1\.\.16, not 0$"),
    ("bin-act-bits-17", lambda: BinarizerSpec(act_bits=17), ValueError,
     r"^act_bits must be in 1\.\.16, not 17$"),
    ("bin-seed-zero", lambda: BinarizerSpec(seed=0), ValueError,
     r"^seed must be non-zero: state 0 is a fixed point"),
    ("bin-seed-over-wide", lambda: BinarizerSpec(seed=2**32), ValueError,
     r"^seed must be in 1\.\.4294967295, not 4294967296$"),
    ("bin-seed-negative", lambda: BinarizerSpec(seed=-1), ValueError,
     r"^seed must be in 1\.\.4294967295, not -1$"),
    ("bin-seed-bool", lambda: BinarizerSpec(seed=True), TypeError,
     r"^seed must be an integer, not True$"),
    ("bin-seed-over-lfsr-width",
     lambda: BinarizerSpec(seed=1 << 16, lfsr=LfsrSpec(width=16, mask=0xB400)), ValueError,
     r"^seed must be in 1\.\.65535, not 65536$"),
    ("bin-deterministic-int", lambda: BinarizerSpec(deterministic=1), TypeError,
     r"^deterministic must be a bool, not 1$"),
    ("bin-lfsr-not-spec", lambda: BinarizerSpec(lfsr=MASK_32), TypeError,
     r"^lfsr must be an LfsrSpec, not 2149580803$"),
    # PackingSpec
    ("pack-word-bits-12", lambda: PackingSpec(word_bits=12), ValueError,
     r"^word_bits must be one of 8, 16, 32, 64, not 12$"),
    ("pack-word-bits-0", lambda: PackingSpec(word_bits=0), ValueError,
     r"^word_bits must be at least 1, not 0$"),
    ("pack-word-bits-bool", lambda: PackingSpec(word_bits=True), TypeError,
     r"^word_bits must be an integer, not True$"),
    ("pack-depth-0", lambda: PackingSpec(depth=0), ValueError,
     r"^depth must be in 1\.\.16777216, not 0$"),
    ("pack-depth-over", lambda: PackingSpec(depth=2**24 + 1), ValueError,
     r"^depth must be in 1\.\.16777216, not 16777217$"),
    ("pack-words-for-negative", lambda: PackingSpec().words_for(-1), ValueError,
     r"^n_bits must be at least 0, not -1$"),
    # DatapathSpec
    ("dp-lanes-0", lambda: DatapathSpec(lanes=0), ValueError,
     r"^lanes must be in 1\.\.4096, not 0$"),
    ("dp-lanes-bool", lambda: DatapathSpec(lanes=True), TypeError,
     r"^lanes must be an integer, not True$"),
    ("dp-act-bits-0", lambda: DatapathSpec(act_bits=0), ValueError,
     r"^act_bits must be in 1\.\.16, not 0$"),
    ("dp-act-bits-17", lambda: DatapathSpec(act_bits=17), ValueError,
     r"^act_bits must be in 1\.\.16, not 17$"),
    ("dp-acc-bits-1", lambda: DatapathSpec(acc_bits=1), ValueError,
     r"^acc_bits must be in 2\.\.64, not 1$"),
    ("dp-acc-bits-65", lambda: DatapathSpec(acc_bits=65), ValueError,
     r"^acc_bits must be in 2\.\.64, not 65$"),
    ("dp-max-beats-0", lambda: DatapathSpec(max_beats=0), ValueError,
     r"^max_beats must be at least 1, not 0$"),
    ("dp-max-beats-bool", lambda: DatapathSpec(max_beats=True), TypeError,
     r"^max_beats must be an integer, not True$"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [pytest.param(make, exc, match, id=name) for name, make, exc, match in REFUSALS],
)
def test_bad_field_is_refused(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_datapath_refuses_accumulator_overflow():
    # 100 beats x 32 lanes x code 255 = 816000 > 2**15 - 1 = 32767.
    reach = 100 * 32 * 255
    with pytest.raises(ValueError, match=rf"can reach {reach}, beyond the 16-bit .* 32767"):
        DatapathSpec(lanes=32, act_bits=8, acc_bits=16, max_beats=100)


def test_datapath_refuses_one_beat_past_the_limit():
    # 1 lane of 1-bit codes: 128 beats reach 128 > 2**7 - 1.
    with pytest.raises(ValueError, match=r"can reach 128, beyond the 8-bit .* 127"):
        DatapathSpec(lanes=1, act_bits=1, acc_bits=8, max_beats=128)


def test_datapath_accepts_exact_fit():
    # 127 beats x 1 lane x code 1 = 127 = 2**7 - 1: every sum fits, nothing is refused.
    dp = DatapathSpec(lanes=1, act_bits=1, acc_bits=8, max_beats=127)
    assert (dp.acc_max, dp.max_abs_sum, dp.max_elements) == (127, 127, 127)


# --- boundary acceptances ------------------------------------------------------------

ACCEPTED = [
    pytest.param(lambda: ActivationEncoding(act_bits=1), id="act-bits-1"),
    pytest.param(lambda: ActivationEncoding(act_bits=16), id="act-bits-16"),
    pytest.param(lambda: LfsrSpec(width=2, mask=0b11), id="lfsr-width-2"),
    # XAPP052 table 3 (taps 48, 47, 21, 20 -> mask bits 47, 46, 20, 19).
    pytest.param(lambda: LfsrSpec(width=48, mask=0xC00000180000), id="lfsr-width-48"),
    # x^16 + x^14 + x^13 + x^11 + 1 (taps 16, 14, 13, 11 -> mask bits 15, 13, 12, 10).
    pytest.param(lambda: LfsrSpec(width=16, mask=0xB400), id="lfsr-16-bit-0xb400"),
    # XAPP052 table 3, 16 bits: taps 16, 15, 13, 4 -> mask bits 15, 14, 12, 3.
    pytest.param(lambda: LfsrSpec(width=16, mask=0xD008), id="lfsr-16-bit-xapp052"),
    # XAPP052 table 3, 32 bits, the alternative taps 32, 30, 26, 25.
    pytest.param(lambda: LfsrSpec(width=32, mask=0xA3000000), id="lfsr-32-bit-xapp052"),
    pytest.param(lambda: BinarizerSpec(lanes=1), id="bin-lanes-1"),
    pytest.param(lambda: BinarizerSpec(lanes=4096), id="bin-lanes-4096"),
    pytest.param(lambda: BinarizerSpec(lanes=2, lfsr=LfsrSpec(width=2, mask=3)),
                 id="bin-lanes-2-width-2"),
    pytest.param(lambda: BinarizerSpec(seed=2**32 - 1), id="bin-seed-max"),
    pytest.param(lambda: BinarizerSpec(act_bits=16), id="bin-act-bits-16"),
    pytest.param(lambda: BinarizerSpec(deterministic=True), id="bin-deterministic"),
    pytest.param(lambda: PackingSpec(word_bits=8), id="pack-word-bits-8"),
    pytest.param(lambda: PackingSpec(word_bits=64), id="pack-word-bits-64"),
    pytest.param(lambda: PackingSpec(depth=2**24), id="pack-depth-max"),
    pytest.param(lambda: DatapathSpec(acc_bits=64), id="dp-acc-bits-64"),
    pytest.param(lambda: DatapathSpec(lanes=4096, acc_bits=64), id="dp-lanes-4096"),
]  # fmt: skip


@pytest.mark.parametrize("make", ACCEPTED)
def test_boundary_value_is_accepted(make):
    assert isinstance(make(), spec.SpecBase)


# --- derived properties --------------------------------------------------------------


@pytest.mark.parametrize("act_bits", [1, 4, 8, 16])
def test_activation_levels_and_max_code(act_bits):
    enc = ActivationEncoding(act_bits=act_bits)
    assert (enc.levels, enc.max_code) == (2**act_bits, 2**act_bits - 1)


@pytest.mark.parametrize("fan_in", [1, 2, 8, 9 * 160])
def test_weight_alpha_is_sqrt_two_over_fan_in(fan_in):
    assert WeightEncoding.alpha(fan_in) == pytest.approx(math.sqrt(2 / fan_in), rel=1e-15)


def test_default_lfsr_is_the_spec_polynomial():
    assert (LfsrSpec().width, LfsrSpec().mask) == (32, MASK_32)


def test_lfsr_period_is_two_to_the_width_minus_one():
    assert LfsrSpec(width=16, mask=0xB400).period == 65535


@pytest.mark.parametrize("lanes", [1, 2, 6, 32, 4096])
def test_lane_stride_is_floor_of_period_over_lanes(lanes):
    assert BinarizerSpec(lanes=lanes).lane_stride == (2**32 - 1) // lanes


@pytest.mark.parametrize(
    ("word_bits", "n_bits", "words"),
    [(8, 0, 0), (8, 1, 1), (8, 8, 1), (8, 9, 2), (32, 33, 2), (64, 128, 2), (64, 129, 3)],
)
def test_words_for_is_ceiling(word_bits, n_bits, words):
    assert PackingSpec(word_bits=word_bits).words_for(n_bits) == words


def test_capacity_bits_is_word_bits_times_depth():
    assert PackingSpec(word_bits=16, depth=100).capacity_bits == 1600


def test_datapath_properties():
    dp = DatapathSpec(lanes=8, act_bits=4, acc_bits=20, max_beats=1000)
    assert (dp.acc_max, dp.max_abs_sum, dp.max_elements) == (2**19 - 1, 1000 * 8 * 15, 8000)


def test_mode_names():
    assert sorted(m.name.lower() for m in Mode) == ["and", "code", "xnor"]


def test_mode_values_are_distinct_two_bit_codes():
    values = [m.value for m in Mode]
    assert len(set(values)) == len(values)
    assert all(isinstance(v, int) and 0 <= v < 4 for v in values)


def test_beats_per_word_is_the_one_lanes_rule() -> None:
    """A beat never straddles two words: lanes is a power of two no larger than the
    word. The SRAM, the board top and the estimator all refuse with this message."""
    packing = PackingSpec(word_bits=32)
    assert [packing.beats_per_word(n) for n in (1, 8, 32)] == [32, 4, 1]
    for bad in (0, 3, 12, 64):
        with pytest.raises(
            ValueError,
            match=rf"^lanes must be a power of two no larger than word_bits=32, not {bad}$",
        ):
            packing.beats_per_word(bad)
    with pytest.raises(TypeError, match="lanes must be an integer"):
        packing.beats_per_word(8.0)  # type: ignore[arg-type]

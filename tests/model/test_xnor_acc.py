"""model.xnor_acc.dot against plain Python integer loops, one per mode (SPEC section 6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.xnor_acc import as_mode, dot
from spec import DatapathSpec, Mode

PROPERTY = settings(max_examples=60, deadline=None)


def reference_dot(weights: list[int], acts: list[int], mode: str) -> int:
    """SPEC section 6's per-lane contributions, summed. Weight bit 1 is +1, 0 is -1."""
    total = 0
    for w, a in zip(weights, acts, strict=True):
        sign = 1 if w == 1 else -1
        if mode == "xnor":  # activation bit as +-1: +1 when the bits agree
            total += 1 if a == w else -1
        elif mode == "and":  # activation bit as 0/1
            total += sign if a == 1 else 0
        else:  # code: a B-bit unsigned code
            total += sign * a
    return total


def reference_xnor_by_beats(weights: list[int], acts: list[int], lanes: int) -> int:
    """SPEC section 6's beat form of xnor: 2*popcount(~(a ^ w) & valid) - n_valid."""
    total = 0
    for start in range(0, len(weights), lanes):
        w_word = a_word = 0
        n_valid = min(lanes, len(weights) - start)
        for i in range(n_valid):
            w_word |= weights[start + i] << i
            a_word |= acts[start + i] << i
        valid = (1 << n_valid) - 1
        total += 2 * bin(~(a_word ^ w_word) & valid).count("1") - n_valid
    return total


@st.composite
def dot_cases(draw, mode: str, act_bits: int = 8) -> tuple[list[list[int]], list[list[int]]]:
    """A batch of 1..3 dot products of one length 1..100."""
    rows = draw(st.integers(1, 3))
    length = draw(st.integers(1, 100))
    a_max = 2**act_bits - 1 if mode == "code" else 1
    weights = [
        draw(st.lists(st.integers(0, 1), min_size=length, max_size=length)) for _ in range(rows)
    ]
    acts = [
        draw(st.lists(st.integers(0, a_max), min_size=length, max_size=length)) for _ in range(rows)
    ]
    return weights, acts


@pytest.mark.parametrize("mode", ["xnor", "and", "code"])
@PROPERTY
@given(data=st.data())
def test_dot_matches_integer_loop(mode, data):
    weights, acts = data.draw(dot_cases(mode))
    got = dot(weights, acts, mode)
    assert got.tolist() == [reference_dot(w, a, mode) for w, a in zip(weights, acts, strict=True)]


@pytest.mark.parametrize("act_bits", [1, 4, 16])
@PROPERTY
@given(data=st.data())
def test_code_mode_matches_integer_loop_at_other_widths(act_bits, data):
    spec = DatapathSpec(lanes=8, act_bits=act_bits, acc_bits=64, max_beats=64)
    weights, acts = data.draw(dot_cases("code", act_bits))
    got = dot(weights, acts, "code", spec)
    assert got.tolist() == [reference_dot(w, a, "code") for w, a in zip(weights, acts, strict=True)]


@PROPERTY
@given(data=st.data(), lanes=st.sampled_from([1, 3, 8, 32]))
def test_xnor_matches_beat_popcount_form(data, lanes):
    weights, acts = data.draw(dot_cases("xnor"))
    got = dot(weights, acts, "xnor")
    expected = [reference_xnor_by_beats(w, a, lanes) for w, a in zip(weights, acts, strict=True)]
    assert got.tolist() == expected


def test_batch_shape_and_dtype():
    rng = np.random.default_rng(3)
    w = rng.integers(0, 2, size=(2, 3, 17))
    a = rng.integers(0, 256, size=(2, 3, 17))
    got = dot(w, a, "code")
    assert (got.shape, got.dtype) == ((2, 3), np.dtype(np.int64))
    for i in range(2):
        for j in range(3):
            assert got[i, j] == reference_dot(w[i, j].tolist(), a[i, j].tolist(), "code")


# --- accumulator limit ----------------------------------------------------------------

# 127 beats of one 1-bit lane: the largest sum, 127, just fits a signed 8-bit accumulator.
EDGE = DatapathSpec(lanes=1, act_bits=1, acc_bits=8, max_beats=127)


@pytest.mark.parametrize(
    ("mode", "w", "a", "expected"),
    [
        ("xnor", 1, 1, 127),  # all match
        ("xnor", 0, 0, 127),  # all match, as -1 * -1
        ("xnor", 1, 0, -127),  # all mismatch
        ("xnor", 0, 1, -127),
        ("and", 1, 1, 127),
        ("and", 0, 1, -127),
        ("and", 1, 0, 0),
        ("code", 1, 1, 127),
        ("code", 0, 1, -127),
    ],
)
def test_longest_dot_product_reaches_accumulator_limit(mode, w, a, expected):
    assert dot([w] * 127, [a] * 127, mode, EDGE).tolist() == expected


def test_dot_product_longer_than_max_elements_is_refused():
    with pytest.raises(
        ValueError,
        match=r"^dot products must have 1\.\.127 elements \(max_beats x lanes\), not 128$",
    ):
        dot([1] * 128, [1] * 128, "xnor", EDGE)


def test_default_spec_refuses_past_its_max_elements():
    n = 4096 * 32 + 1  # default max_beats x lanes, plus one
    with pytest.raises(ValueError, match=rf"^dot products must have 1\.\.{n - 1} elements"):
        dot(np.ones(n, dtype=np.int64), np.ones(n, dtype=np.int64), "and")


def test_empty_dot_product_is_refused():
    with pytest.raises(ValueError, match=r"^dot products must have 1\.\.\d+ elements .*, not 0$"):
        dot(np.zeros((2, 0), dtype=np.int64), np.zeros((2, 0), dtype=np.int64), "xnor")


# --- modes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode"),
    [("xnor", Mode.XNOR), ("and", Mode.AND), ("code", Mode.CODE), ("XNOR", Mode.XNOR)],
)
def test_as_mode_takes_names(name, mode):
    assert as_mode(name) is mode


@pytest.mark.parametrize("mode", list(Mode))
def test_as_mode_passes_modes_through(mode):
    assert as_mode(mode) is mode


def test_mode_enum_and_name_agree():
    w, a = [1, 0, 1, 0], [3, 3, 0, 1]
    assert dot(w, a, Mode.CODE).tolist() == dot(w, a, "code").tolist() == 3 - 3 + 0 - 1


@pytest.mark.parametrize("bad", ["nand", "", 0, None])
def test_bad_mode_is_refused(bad):
    with pytest.raises(ValueError, match=rf"^mode must be one of xnor, and, code, not {bad!r}$"):
        dot([1], [1], bad)


# --- operand checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "acts", "mode", "spec", "exc", "match"),
    [
        pytest.param([1, 0], [0, 256], "code", None, ValueError,
                     r"^acts must hold values in 0\.\.255, found 0\.\.256$", id="code-256"),
        pytest.param([1, 0], [-1, 3], "code", None, ValueError,
                     r"^acts must hold values in 0\.\.255, found -1\.\.3$", id="code-negative"),
        pytest.param([1], [16], "code", DatapathSpec(act_bits=4), ValueError,
                     r"^acts must hold values in 0\.\.15, found 16\.\.16$", id="code-16-at-4-bits"),
        pytest.param([1, 0], [0, 2], "xnor", None, ValueError,
                     r"^acts must hold values in 0\.\.1, found 0\.\.2$", id="xnor-act-2"),
        pytest.param([1, 0], [0, 2], "and", None, ValueError,
                     r"^acts must hold values in 0\.\.1, found 0\.\.2$", id="and-act-2"),
        pytest.param([2, 0], [0, 1], "xnor", None, ValueError,
                     r"^weights must hold values in 0\.\.1, found 0\.\.2$", id="weight-2"),
        pytest.param([0.5], [1], "xnor", None, TypeError,
                     r"^weights must be an integer array, not dtype float64$", id="float-weights"),
        pytest.param([1, 0], [1, 0, 1], "xnor", None, ValueError,
                     r"^weights and acts must share a shape \(\.\.\., L\), not \(2,\) and \(3,\)$",
                     id="length-mismatch"),
        pytest.param(1, 1, "xnor", None, ValueError,
                     r"^weights and acts must share a shape \(\.\.\., L\), not \(\) and \(\)$",
                     id="scalars"),
    ],
)  # fmt: skip
def test_bad_operand_is_refused(weights, acts, mode, spec, exc, match):
    with pytest.raises(exc, match=match):
        dot(weights, acts, mode, spec)

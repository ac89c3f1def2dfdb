"""The GF(2) column-list maps of :mod:`spec.gf2`, against their definitions.

A map is a list of columns, column ``i`` being the image of ``1 << i``; the references
here work straight from that definition (XOR of the columns of the set bits).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import gf2

PROPERTY = settings(max_examples=60, deadline=None)


def reference_apply(cols: list[int], x: int) -> int:
    """XOR of the columns selected by the set bits of ``x``."""
    y = 0
    for i, col in enumerate(cols):
        if (x >> i) & 1:
            y ^= col
    return y


@st.composite
def maps(draw, n: int | None = None) -> list[int]:
    n = draw(st.integers(1, 20)) if n is None else n
    return draw(st.lists(st.integers(0, (1 << n) - 1), min_size=n, max_size=n))


@st.composite
def map_and_vector(draw) -> tuple[list[int], int]:
    cols = draw(maps())
    return cols, draw(st.integers(0, (1 << len(cols)) - 1))


@pytest.mark.parametrize("n", [1, 5, 32])
def test_identity_columns_are_unit_vectors(n):
    assert gf2.identity(n) == [2**i for i in range(n)]


@PROPERTY
@given(map_and_vector())
def test_apply_xors_selected_columns(case):
    cols, x = case
    assert gf2.apply(cols, x) == reference_apply(cols, x)


@PROPERTY
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(maps(n), maps(n), st.integers(0, 2**n - 1))))
def test_compose_applies_second_argument_first(case):
    f, g, x = case
    assert gf2.apply(gf2.compose(f, g), x) == reference_apply(f, reference_apply(g, x))


def test_compose_order_matters():
    # On 2 bits: f swaps the bits, g clears bit 1. f after g maps 0b10 -> 0; g after f
    # maps 0b10 -> 0b01.
    f, g = [0b10, 0b01], [0b01, 0b00]
    assert gf2.apply(gf2.compose(f, g), 0b10) == 0
    assert gf2.apply(gf2.compose(g, f), 0b10) == 0b01


@PROPERTY
@given(map_and_vector(), st.integers(0, 40))
def test_power_is_repeated_application(case, k):
    cols, x = case
    y = x
    for _ in range(k):
        y = reference_apply(cols, y)
    assert gf2.apply(gf2.power(cols, k), x) == y


def test_power_zero_is_identity():
    assert gf2.power([0b11, 0b01, 0b100], 0) == [0b1, 0b10, 0b100]


def test_power_refuses_negative_exponent():
    with pytest.raises(ValueError, match=r"^k must be non-negative, not -1$"):
        gf2.power([1], -1)

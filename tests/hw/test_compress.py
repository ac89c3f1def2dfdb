# amaranth: UnusedElaboratable=no
"""hw.compress: the carry-chain schedule adds every bit exactly once, and its LUTs
tabulate the functions they are given. (The gateware built from it is checked against
the model in test_xnor_acc.py, and its Xilinx primitives in sim/test_xnor_acc_xc7.py.)"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from amaranth import C, Instance, Module, Signal
from amaranth.hdl import Fragment
from amaranth_boards.arty_a7 import ArtyA7_35Platform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hw.compress import Plan, is_xc7, lut, plan


def evaluate(p: Plan, bits: dict[int, int], lanes: dict[int, tuple[int, int]]) -> int:
    """What the planned gateware computes for these input bits and lane (weight,
    activation) pairs, in plain integers; asserts every token is used once, and only
    after the round that makes it."""
    value = dict(bits)
    used: Counter[int] = Counter()
    for chains in p.rounds:
        made = {}
        for ch in chains:
            count_inputs = len(ch.count) + 2 * len(ch.lanes)
            assert count_inputs + (ch.a[0] is not None) <= 6, "a position is one LUT6"
            operands = [*ch.count, *ch.lanes, *ch.a, *ch.b, ch.cin]
            used.update(t for t in operands if t is not None)
            count = sum(value[t] for t in ch.count)
            count += sum(w == a for w, a in (lanes[t] for t in ch.lanes))
            total = count + (value[ch.cin] if ch.cin is not None else 0)
            for i, (a, b) in enumerate(zip(ch.a, ch.b, strict=True)):
                total += (value[a] if a is not None else 0) << i
                total += (value[b] if b is not None else 0) << i
            for i, t in enumerate(ch.out):
                if t is not None:
                    made[t] = (total >> i) & 1
        value.update(made)
    used.update(t for t in p.row if t is not None)
    assert set(used) == set(value) | set(lanes), "every token is used"
    assert max(used.values()) == 1, "no token is used twice"
    return sum(value[t] << c for c, t in enumerate(p.row) if t is not None)


@pytest.mark.parametrize("seed", range(40))
def test_plan_adds_every_bit(seed: int) -> None:
    rng = random.Random(seed)
    width = rng.randint(1, 9)
    heights = [rng.randint(0, 13) for _ in range(width)]
    tokens = iter(range(10_000))
    columns = [[next(tokens) for _ in range(h)] for h in heights]
    lane_cols = [
        [next(tokens) for _ in range(rng.randint(0, 2))] if c == 1 else [] for c in range(width)
    ]
    found = plan(columns, first_free=next(tokens), lanes=lane_cols)
    if found is None:  # no chain could count the lanes: fine without them
        assert any(lane_cols)
        lane_cols = []
        found = plan(columns, first_free=next(tokens))
    assert found is not None
    for _ in range(20):
        bits = {t: rng.randint(0, 1) for col in columns for t in col}
        lanes = {t: (rng.randint(0, 1), rng.randint(0, 1)) for col in lane_cols for t in col}
        want = sum(bits[t] << c for c, col in enumerate(columns) for t in col)
        want += sum(
            (w == a) << c for c, col in enumerate(lane_cols) for t in col for w, a in [lanes[t]]
        )
        assert evaluate(found, bits, lanes) == want % (1 << width)


def test_plan_for_32_lanes() -> None:
    """The datapath's case: 2*popcount - 32 from ten 3-lane counts and two lanes."""
    tokens = iter(range(100))
    columns = [
        [],
        [next(tokens) for _ in range(10)],
        [next(tokens) for _ in range(10)],
        [],
        [],
        [],
        [],
    ]
    columns[5].append(next(tokens))
    columns[6].append(next(tokens))
    lanes = [[], [next(tokens), next(tokens)], [], [], [], [], []]
    found = plan(columns, first_free=100, lanes=lanes)
    assert found is not None
    assert found.positions <= 20 and len(found.rounds) <= 4


def test_lut_tabulates_and_folds_constants() -> None:
    m = Module()
    x, y, z = Signal(), Signal(), Signal()
    lut(m, "l", [x, y, z], lambda a, b, c: (a & b) ^ c, xc7=True)
    Fragment.get(m, None)  # elaborated, as a used module is (no "never used" warning)
    inst = m.submodules["l"]
    assert isinstance(inst, Instance) and inst.type == "LUT3"
    # Index bit j is input j: (a & b) ^ c over indices 0..7.
    assert inst.parameters["INIT"].value == sum(
        (((i & 1) & (i >> 1 & 1)) ^ (i >> 2)) << i for i in range(8)
    )
    m = Module()
    lut(m, "f", [x, C(1, 1)], lambda a, b: a & b, xc7=True)  # the constant is folded in
    Fragment.get(m, None)
    inst = m.submodules["f"]
    assert inst.type == "LUT1" and inst.parameters["INIT"].value == 0b10
    assert lut(m, "g", [C(1, 1), C(0, 1)], lambda a, b: a ^ b, xc7=True).value == 1


def test_is_xc7() -> None:
    assert is_xc7(ArtyA7_35Platform())
    assert not is_xc7(ULX3S_85F_Platform())
    assert not is_xc7(None)

"""Linear maps over GF(2), as column lists: pure Python, shared by model and gateware.

A map from an ``n``-bit vector to an ``m``-bit vector is a list of ``n`` ints, column
``i`` being the image of basis vector ``1 << i``. The LFSR's jump-ahead (SPEC section 4)
is a power of its one-step map; both the model and the gateware's elaboration build it
from these functions, so they agree by construction on *what* is computed and are
checked against each other on *how*.
"""

from __future__ import annotations

from collections.abc import Sequence


def apply(cols: Sequence[int], x: int) -> int:
    """Image of the bit vector ``x`` under the map ``cols``."""
    y = 0
    i = 0
    while x:
        if x & 1:
            y ^= cols[i]
        x >>= 1
        i += 1
    return y


def compose(f: Sequence[int], g: Sequence[int]) -> list[int]:
    """The map ``f after g`` (apply ``g`` first)."""
    return [apply(f, c) for c in g]


def identity(n: int) -> list[int]:
    """The identity on ``n`` bits."""
    return [1 << i for i in range(n)]


def power(cols: Sequence[int], k: int) -> list[int]:
    """``cols`` applied ``k`` times (``k >= 0``), by square-and-multiply: O(n^2 log k)."""
    if k < 0:
        raise ValueError(f"k must be non-negative, not {k}")
    result = identity(len(cols))
    base = list(cols)
    while k:
        if k & 1:
            result = compose(base, result)
        base = compose(base, base)
        k >>= 1
    return result

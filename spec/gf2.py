"""Linear maps over GF(2), as column lists: shared by model and gateware.

A map from an ``n``-bit vector to an ``m``-bit vector is a list of ``n`` ints, column
``i`` being the image of basis vector ``1 << i``. The LFSR's jump-ahead (SPEC section 4)
is a power of its one-step map; both the model and the gateware's elaboration build it
from these functions, so they agree by construction on *what* is computed and are
checked against each other on *how*.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def rank(vectors: Sequence[int]) -> int:
    """Rank of ``vectors`` (ints read as bit vectors): how many are linearly independent."""
    basis: dict[int, int] = {}  # leading bit -> a reduced vector with that leading bit
    for v in vectors:
        while v:
            top = v.bit_length() - 1
            if top not in basis:
                basis[top] = v
                break
            v ^= basis[top]
    return len(basis)


def inverse(cols: Sequence[int]) -> list[int]:
    """The inverse of the square map ``cols``; ValueError if it is singular.

    Gauss-Jordan on ``[cols | I]``: each column of ``cols`` is carried with the record
    of which original columns it is the sum of, until the columns are unit vectors.
    """
    n = len(cols)
    rows = [(c, 1 << i) for i, c in enumerate(cols)]  # (image, preimage) pairs
    for bit in range(n):
        pivot = next((k for k in range(bit, n) if rows[k][0] >> bit & 1), None)
        if pivot is None:
            raise ValueError(f"the {n}x{n} map is singular (rank {rank(cols)})")
        rows[bit], rows[pivot] = rows[pivot], rows[bit]
        image, source = rows[bit]
        for k in range(n):
            if k != bit and rows[k][0] >> bit & 1:
                rows[k] = (rows[k][0] ^ image, rows[k][1] ^ source)
    return [source for _, source in rows]  # rows[i] maps `source` to unit vector i


class TableMap:
    """A map of at most 64 bits to at most 64 bits, applied to numpy ``uint64`` arrays:
    one 256-entry table per input byte, so that a whole array costs a look-up and an
    XOR per byte instead of a loop over bits."""

    def __init__(self, cols: Sequence[int]) -> None:
        self.tables = []
        for lo in range(0, len(cols), 8):
            part = cols[lo : lo + 8]
            table = [apply(part, v) for v in range(1 << len(part))]
            self.tables.append(np.array(table, dtype=np.uint64))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.tables[0][x & np.uint64(0xFF)]
        for i, table in enumerate(self.tables[1:], start=1):
            y ^= table[(x >> np.uint64(8 * i)) & np.uint64(0xFF)]
        return y

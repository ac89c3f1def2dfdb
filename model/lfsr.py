"""Reference model of the LFSR bank (SPEC section 4): the random codes each element sees.

The bank has ``lanes`` Galois LFSRs; lane ``j`` starts at the seed advanced by
``j * floor((2**width - 1) / lanes)`` steps and gives one ``act_bits``-bit code per beat
(the next ``act_bits`` output bits, first bit as the LSB). Element ``k`` of a stream
uses lane ``k % lanes`` in beat ``k // lanes``.

Speed comes from two observations. The map from a state to (its next code, the state
``act_bits`` steps later) is linear over GF(2), so it is evaluated for a whole array of
states with one table look-up per state byte. And each lane's sequence is cut into
chunks whose start states come from jump-ahead, so thousands of independent LFSRs step
together instead of one bit at a time.

>>> random_codes(seed=1, lanes=1, act_bits=4, n=3).tolist()
[11, 13, 6]
"""

from __future__ import annotations

import math

import numpy as np

from spec import BinarizerSpec, LfsrSpec, gf2
from spec._base import check_int


class _ByteSliced:
    """A GF(2) linear map evaluated on numpy uint64 arrays, one table per input byte."""

    def __init__(self, cols: list[int]) -> None:
        self.tables = []
        for lo in range(0, len(cols), 8):
            part = cols[lo : lo + 8]
            table = [gf2.apply(part, v) for v in range(1 << len(part))]
            self.tables.append(np.array(table, dtype=np.uint64))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.tables[0][x & np.uint64(0xFF)]
        for i, table in enumerate(self.tables[1:], start=1):
            y ^= table[(x >> np.uint64(8 * i)) & np.uint64(0xFF)]
        return y


def random_codes(
    seed: int, lanes: int, act_bits: int, n: int, *, lfsr: LfsrSpec | None = None
) -> np.ndarray:
    """The random number ``r`` that stream elements ``0..n-1`` are compared against.

    Parameters
    ----------
    seed : int
        Lane 0's initial LFSR state: non-zero, at most ``lfsr.width`` bits.
    lanes : int
        Parallel lanes (element ``k`` uses lane ``k % lanes``).
    act_bits : int
        Bits per code, 1..16.
    n : int
        Number of elements, ``>= 0``.
    lfsr : LfsrSpec, optional
        The generator; SPEC section 4's 32-bit polynomial by default.

    Returns
    -------
    numpy.ndarray
        ``uint16`` array of shape ``(n,)``.

    Raises
    ------
    ValueError, TypeError
        Any argument out of range (zero seed, negative ``n``, ``act_bits = 0``, ...).
    """
    spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, lfsr=lfsr or LfsrSpec())
    check_int("n", n, 0)
    width = spec.lfsr.width
    beats = -(-n // lanes)
    if beats == 0:
        return np.zeros(0, dtype=np.uint16)
    # Chunks of `per_chunk` beats: about sqrt(beats) sequential steps of each kind.
    per_chunk = max(1, math.isqrt(beats))
    chunks = -(-beats // per_chunk)
    starts = np.empty((chunks, lanes), dtype=np.uint64)
    starts[0] = spec.lfsr.lane_seeds(seed, lanes)
    jump = _ByteSliced(spec.lfsr.jump_map(act_bits * per_chunk))
    for c in range(1, chunks):
        starts[c] = jump(starts[c - 1])
    step = _ByteSliced(spec.lfsr.code_map(act_bits))
    state_mask = np.uint64((1 << width) - 1)
    codes = np.empty((per_chunk, chunks, lanes), dtype=np.uint16)
    state = starts
    for t in range(per_chunk):
        y = step(state)
        codes[t] = y >> np.uint64(width)
        state = y & state_mask
    return codes.transpose(1, 0, 2).reshape(-1)[:n]

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
from collections.abc import Callable

import numpy as np

from spec import BinarizerSpec, LfsrSpec, gf2
from spec._base import check_int
from spec.shared_lfsr import SharedLfsrSpec


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
    step = gf2.TableMap(spec.lfsr.code_map(act_bits))
    state_mask = np.uint64((1 << width) - 1)

    def beat(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = step(state)
        return y >> np.uint64(width), y & state_mask

    jump = lambda beats: spec.lfsr.jump_map(act_bits * beats)  # noqa: E731
    codes = _run(spec.lfsr.lane_seeds(seed, lanes), -(-n // lanes), jump, beat)
    return codes.astype(np.uint16).reshape(-1)[:n]


def shared_codes(
    seed: int, lanes: int, act_bits: int, n: int, *, source: SharedLfsrSpec | None = None
) -> np.ndarray:
    """:func:`random_codes` for the shared source (``docs/formats.md`` section 3b): one
    LFSR whose state at beat 0 is ``source.start(seed)`` and moves ``source.steps``
    steps a beat; lane
    ``j``'s code bit ``b`` is the parity of the state under output ``j * act_bits + b``
    of ``source.output_map(lanes, act_bits)``.

    The codes of a beat are linear in its state: lanes are evaluated
    ``64 // act_bits`` at a time, each group's codes packed in one ``uint64`` by one
    table look-up per state byte.

    >>> shared_codes(seed=0xACE1, lanes=2, act_bits=4, n=6).tolist()
    [0, 13, 7, 12, 7, 1]
    """
    spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, source="shared",
                         shared=source or SharedLfsrSpec())  # fmt: skip
    check_int("n", n, 0)
    src = spec.shared
    step = gf2.TableMap(src.beat_map())
    beats = -(-n // lanes)
    states = _run([src.start(seed)], beats, lambda k: gf2.power(src.beat_map(), k),
                  lambda s: (s, step(s)))[:, 0]  # fmt: skip
    funcs, group = spec.output_map(), 64 // act_bits
    codes = np.empty((len(states), lanes), dtype=np.uint16)
    low = np.uint64((1 << act_bits) - 1)
    for j0 in range(0, lanes, group):
        members = range(j0, min(j0 + group, lanes))
        # Column i: state bit i's contribution to every code bit of the group.
        cols = [sum((funcs[j * act_bits + b] >> i & 1) << ((j - j0) * act_bits + b)
                    for j in members for b in range(act_bits))
                for i in range(src.width)]  # fmt: skip
        packed = gf2.TableMap(cols)(states)
        for j in members:
            codes[:, j] = (packed >> np.uint64((j - j0) * act_bits)) & low
    return codes.reshape(-1)[:n]


def codes(spec: BinarizerSpec, n: int) -> np.ndarray:
    """The first ``n`` random codes of the source ``spec`` names (seed, lanes and
    code width from ``spec``)."""
    if spec.source == "shared":
        return shared_codes(spec.seed, spec.lanes, spec.act_bits, n, source=spec.shared)
    return random_codes(spec.seed, spec.lanes, spec.act_bits, n, lfsr=spec.lfsr)


def _run(
    seeds: list[int],
    beats: int,
    jump: Callable[[int], list[int]],
    beat: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Run ``len(seeds)`` LFSRs for ``beats`` beats: ``beat(states)`` gives each one's
    output and next state, ``jump(k)`` the map of ``k`` beats. Outputs ``(beats,
    len(seeds))``, beat by beat.

    The sequence is cut into chunks of about ``sqrt(beats)`` beats whose start states
    come from jump-ahead, so the chunks step together: about ``2 * sqrt(beats)``
    sequential steps, each on an array.
    """
    if beats == 0:
        return np.zeros((0, len(seeds)), dtype=np.uint64)
    per_chunk = max(1, math.isqrt(beats))
    chunks = -(-beats // per_chunk)
    starts = np.empty((chunks, len(seeds)), dtype=np.uint64)
    starts[0] = seeds
    leap = gf2.TableMap(jump(per_chunk))
    for c in range(1, chunks):
        starts[c] = leap(starts[c - 1])
    out = np.empty((per_chunk, chunks, len(seeds)), dtype=np.uint64)
    state = starts
    for t in range(per_chunk):
        out[t], state = beat(state)
    return out.transpose(1, 0, 2).reshape(-1, len(seeds))[:beats]

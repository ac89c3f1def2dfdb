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
    return CodeStream(spec).take(n)


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
    return CodeStream(spec).take(n)


def codes(spec: BinarizerSpec, n: int) -> np.ndarray:
    """The first ``n`` random codes of the source ``spec`` names (seed, lanes and
    code width from ``spec``)."""
    return CodeStream(spec).take(n)


class CodeStream:
    """The codes of one random source, drawn a piece at a time: each :meth:`take` goes
    on where the last one stopped, on a fresh beat.

    This is what a network's binarizations see when one bank serves all of them in turn
    (training with ``python -m model.train --random``): every draw starts on a new beat,
    the unused lanes of its last beat left behind, as a gateware stream that ends
    mid-beat leaves them. :meth:`take` of ``n`` from a new stream is :func:`codes`.

    >>> s = CodeStream(BinarizerSpec(lanes=2, act_bits=4, seed=0xACE1, source="shared"))
    >>> s.take(3).tolist(), s.take(2).tolist(), s.beat
    ([0, 13, 7], [7, 1], 3)
    """

    def __init__(self, spec: BinarizerSpec) -> None:
        self.spec = spec
        #: Beats drawn so far.
        self.beat = 0
        bits = spec.act_bits
        if spec.source == "shared":
            src = spec.shared
            self._beat_map = src.beat_map()
            self._states = np.array([src.start(spec.seed)], dtype=np.uint64)
            step = gf2.TableMap(self._beat_map)
            self._jump = lambda k: gf2.power(self._beat_map, k)
            self._beat = lambda s: (s, step(s))
            self._groups = self._output_groups()
        else:
            width = spec.lfsr.width
            self._states = np.array(spec.lfsr.lane_seeds(spec.seed, spec.lanes), dtype=np.uint64)
            code_step = gf2.TableMap(spec.lfsr.code_map(bits))
            state_mask = np.uint64((1 << width) - 1)
            self._jump = lambda k: spec.lfsr.jump_map(bits * k)
            self._beat = lambda s: ((y := code_step(s)) >> np.uint64(width), y & state_mask)

    def _output_groups(self) -> list[tuple[range, gf2.TableMap]]:
        """The shared source's lanes ``64 // act_bits`` at a time, each group's codes
        packed in one ``uint64`` by one table look-up per state byte."""
        spec, funcs = self.spec, self.spec.output_map()
        bits, group = spec.act_bits, 64 // spec.act_bits
        groups = []
        for j0 in range(0, spec.lanes, group):
            members = range(j0, min(j0 + group, spec.lanes))
            # Column i: state bit i's contribution to every code bit of the group.
            cols = [sum((funcs[j * bits + b] >> i & 1) << ((j - j0) * bits + b)
                        for j in members for b in range(bits))
                    for i in range(spec.shared.width)]  # fmt: skip
            groups.append((members, gf2.TableMap(cols)))
        return groups

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` codes (``uint16``, shape ``(n,)``): ``ceil(n / lanes)`` beats."""
        check_int("n", n, 0)
        lanes, bits = self.spec.lanes, self.spec.act_bits
        beats = -(-n // lanes)
        out, self._states = _run(self._states, beats, self._jump, self._beat)
        self.beat += beats
        if self.spec.source == "shared":
            states, out = out[:, 0], np.empty((beats, lanes), dtype=np.uint64)
            low = np.uint64((1 << bits) - 1)
            for members, table in self._groups:
                packed = table(states)
                for j in members:
                    out[:, j] = (packed >> np.uint64((j - members.start) * bits)) & low
        return out.astype(np.uint16).reshape(-1)[:n]

    def state_dict(self) -> dict[str, object]:
        """Where the stream stands (for a checkpoint): its beat and LFSR states."""
        return {"beat": self.beat, "states": [int(v) for v in self._states]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Go on from :meth:`state_dict`'s ``state`` (of a stream of the same spec)."""
        states = np.array(state["states"], dtype=np.uint64)
        if states.shape != self._states.shape:
            raise ValueError(f"stream state holds {states.size} LFSR states, this source "
                             f"has {self._states.size}")  # fmt: skip
        self.beat, self._states = int(state["beat"]), states  # type: ignore[call-overload]


def _run(
    seeds: np.ndarray | list[int],
    beats: int,
    jump: Callable[[int], list[int]],
    beat: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``len(seeds)`` LFSRs for ``beats`` beats: ``beat(states)`` gives each one's
    output and next state, ``jump(k)`` the map of ``k`` beats. Returns the outputs
    ``(beats, len(seeds))``, beat by beat, and the states after the last beat.

    The sequence is cut into chunks of about ``sqrt(beats)`` beats whose start states
    come from jump-ahead, so the chunks step together: about ``2 * sqrt(beats)``
    sequential steps, each on an array.
    """
    seeds = np.asarray(seeds, dtype=np.uint64)
    if beats == 0:
        return np.zeros((0, len(seeds)), dtype=np.uint64), seeds
    per_chunk = max(1, math.isqrt(beats))
    chunks = -(-beats // per_chunk)
    last = beats - (chunks - 1) * per_chunk  # beats of the last chunk, 1..per_chunk
    starts = np.empty((chunks, len(seeds)), dtype=np.uint64)
    starts[0] = seeds
    leap = gf2.TableMap(jump(per_chunk))
    for c in range(1, chunks):
        starts[c] = leap(starts[c - 1])
    out = np.empty((per_chunk, chunks, len(seeds)), dtype=np.uint64)
    state = starts
    for t in range(per_chunk):
        out[t], state = beat(state)
        if t + 1 == last:
            final = state[-1].copy()
    return out.transpose(1, 0, 2).reshape(-1, len(seeds))[:beats], final

"""The shared random source: one maximal-length LFSR for every lane, read through a
phase shifter (``docs/formats.md`` section 3b).

Where :class:`spec.lfsr.LfsrSpec` gives every lane an LFSR of its own, this source has
one Galois LFSR of ``width`` bits for all ``lanes * act_bits`` random bits of a beat.
Output bit ``o`` of a beat (lane ``o // act_bits``, code bit ``o % act_bits``) is the
XOR of ``taps`` state bits, the set bits of its *functional* ``c_o``:
``parity(c_o & state)``. Every non-zero functional reads the same m-sequence as the
LFSR's own output bit (bit 0 of the state), shifted by some *phase* ``d``; the output
map is chosen so that the phases lie far apart and that the codes of any two lanes of
a beat, and of a lane in two consecutive beats, are exactly independent.

Phases are discrete logarithms in GF(2^width), found by Pohlig-Hellman (the period's
prime factors are small for the supported widths); numpy evaluates them for every
output at once.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import gf2
from ._base import SpecBase, check_int
from .lfsr import _prime_factors, check_mask, galois_step

#: A maximal-length 64-bit polynomial with 32 feedback taps (right-shifting Galois mask):
#: the first mask of popcount 32 with bit 63 set drawn by ``random.Random(20261203)``
#: that passes the maximality check. Dense feedback matters here: outputs read only
#: three state bits, and a sparse polynomial (XAPP052's x^64 + x^63 + x^61 + x^60 + 1)
#: leaves a state of few ones sparse for thousands of steps, so the codes after a seed
#: such as 0x3039 come out biased (``bench.randomness``'s chi-square failed). With half
#: the taps set, every feedback step flips about half the state.
DEFAULT_SHARED_MASK = 0xF86489CA0B768DAE

#: Largest prime factor of ``2**width - 1`` whose discrete logarithms stay cheap (a
#: baby-step giant-step table of its square root): 2**64 - 1's largest is 6,700,417.
MAX_LOG_PRIME = 1 << 26

#: The size of a baby-step table: every power of a factor up to this size, so that
#: only the largest factor of 2**64 - 1 takes giant steps (about a hundred).
BABY_STEPS = 1 << 16

#: How many times the construction may redraw before it gives up (it never needs more
#: than a handful at the default separation).
MAX_ROUNDS = 200


@dataclass(frozen=True)
class SharedLfsrSpec(SpecBase):
    """One right-shifting Galois LFSR shared by every lane, and its output map.

    The state steps as in SPEC section 4 (``out = s & 1; s >>= 1; if out: s ^= mask``),
    ``steps`` times per beat. Beat ``t`` reads state ``s_t``; ``s_0`` is the seed moved
    on ``warmup`` beats (:meth:`start`), so that even a seed with a single one set has
    been through the feedback and is dense before the first beat;
    its output bit ``o`` is ``parity(s_t & output_map(lanes, act_bits)[o])`` and lane
    ``j``'s random code has bit ``b`` from output ``j * act_bits + b``.

    :meth:`output_map` guarantees, for the lanes and code width it is built for:

    (a) every output reads the LFSR's m-sequence at its own phase, and any two phases
        are at least ``2**separation_bits`` steps apart (around the period);
    (b) for any two lanes of a beat, and for a lane and itself one beat later, the
        ``2 * act_bits`` functionals are linearly independent: the two codes are
        independent and uniform over the period, so their bits are uncorrelated.

    Parameters
    ----------
    width : int
        State width, 16..64, such that ``2**width - 1`` has no prime factor above
        :data:`MAX_LOG_PRIME` (most do, 32, 48 and 64 among them; 31, 61 and 62 do not).
    mask : int
        Maximal-length feedback mask (tap ``t`` at bit ``t - 1``, bit ``width - 1`` set).
    steps : int
        LFSR steps per beat, 1..width.
    taps : int
        State bits XORed into each output bit, 1..4.
    separation_bits : int
        Least phase distance between outputs, ``2**separation_bits`` steps.
    warmup : int
        Beats a seed is moved on before beat 0, 0..4096 (the gateware spends a cycle on
        each after a seed load; ``width`` beats of one step bring the lowest one of any
        seed through the feedback).

    Raises
    ------
    ValueError
        A field out of range, a mask that is not maximal, or a width whose phases
        cannot be computed quickly.
    """

    width: int = 64
    mask: int = DEFAULT_SHARED_MASK
    steps: int = 1
    taps: int = 3
    separation_bits: int = 40
    warmup: int = 64

    def __post_init__(self) -> None:
        check_int("width", self.width, 16, 64)
        check_int("steps", self.steps, 1, self.width)
        check_int("taps", self.taps, 1, 4)
        check_int("separation_bits", self.separation_bits, 0, self.width - 16)
        check_int("warmup", self.warmup, 0, 4096)
        worst = max(_prime_factors(self.period))
        if worst > MAX_LOG_PRIME:
            raise ValueError(
                f"width {self.width}: 2**{self.width} - 1 has the prime factor {worst}, too "
                f"large to compute the outputs' phases; use 32, 48 or 64, say"
            )
        check_mask(self.width, self.mask)

    @property
    def period(self) -> int:
        """``2**width - 1``: every non-zero state lies on the one cycle."""
        return (1 << self.width) - 1

    @property
    def separation(self) -> int:
        """Least phase distance between two outputs, in LFSR steps."""
        return 1 << self.separation_bits

    def check_seed(self, seed: int) -> int:
        """``seed`` (the initial state) if it is 1..2**width - 1, else ValueError."""
        if isinstance(seed, int) and not isinstance(seed, bool) and seed == 0:
            raise ValueError("seed must be non-zero: state 0 is a fixed point of the LFSR")
        return check_int("seed", seed, 1, self.period)

    def start(self, seed: int) -> int:
        """The state of beat 0 after ``seed`` is loaded: ``seed`` moved on ``warmup``
        beats."""
        return gf2.apply(gf2.power(self.beat_map(), self.warmup), self.check_seed(seed))

    def step_map(self) -> list[int]:
        """One step as a GF(2) column list (:mod:`spec.gf2`)."""
        return galois_step(self.width, self.mask)

    def beat_map(self) -> list[int]:
        """The state map of one beat: ``steps`` steps."""
        return gf2.power(self.step_map(), self.steps)

    def functional_map(self, steps: int) -> list[int]:
        """How a functional moves when the state advances ``steps`` steps: the output
        ``c`` read ``steps`` later is ``parity(apply(functional_map(steps), c) & s)``
        (the transpose of the state map)."""
        state = gf2.power(self.step_map(), steps)
        return [sum((col >> j & 1) << i for i, col in enumerate(state)) for j in range(self.width)]

    def phases(self, functionals: Sequence[int]) -> list[int]:
        """The phase of each non-zero functional: ``d`` such that the output read
        through it at step ``t`` is the LFSR's output bit (state bit 0) at step ``t + d``,
        for every start state. ``0 <= d < period``."""
        for c in functionals:
            check_int("functional", c, 1, self.period)
        return _Logs.of(self.width, self.mask).phases(list(functionals))

    def distance(self, a: int, b: int) -> int:
        """Steps between phases ``a`` and ``b`` around the period."""
        gap = abs(a - b) % self.period
        return min(gap, self.period - gap)

    def check_outputs(self, lanes: int, act_bits: int) -> None:
        """ValueError unless :meth:`output_map` can serve ``lanes`` x ``act_bits``:
        guarantee (b) needs ``2 * act_bits <= width``, and each output a shape of its
        own (:meth:`output_map`)."""
        check_int("lanes", lanes, 1)
        check_int("act_bits", act_bits, 1)
        shapes = math.comb(self.width - 1, self.taps - 1)
        if 2 * act_bits > self.width or lanes * act_bits > shapes:
            raise ValueError(
                f"a {self.width}-bit shared LFSR with {self.taps} taps an output cannot feed "
                f"{lanes} lanes x {act_bits} bits (at most {shapes} outputs, and act_bits "
                f"at most {self.width // 2}): widen it or add taps"
            )

    def output_map(self, lanes: int, act_bits: int) -> tuple[int, ...]:
        """The functional of each of the ``lanes * act_bits`` outputs of a beat (output
        ``j * act_bits + b`` is lane ``j``'s code bit ``b``).

        Deterministic in the fields, ``lanes`` and ``act_bits``: each output draws
        ``taps`` distinct state bits from a generator seeded with all of them; an output
        whose phase lies within :attr:`separation` of another's, and a lane that breaks
        guarantee (b) with another lane or with itself a beat later, is drawn again
        until none is left (a few rounds; ValueError if the fields make it impossible).
        """
        return _output_map(self, lanes, act_bits)


@functools.lru_cache(maxsize=32)
def _output_map(spec: SharedLfsrSpec, lanes: int, act_bits: int) -> tuple[int, ...]:
    spec.check_outputs(lanes, act_bits)
    outputs = lanes * act_bits
    # A functional moved one step is, but for the feedback bit, the same set of state
    # bits shifted by one: functionals of one shape (the taps' offsets from the lowest)
    # read nearby phases. Every output therefore gets a shape of its own.
    shapes = list(itertools.combinations(range(1, spec.width), spec.taps - 1))
    rng = random.Random(f"sbq shared lfsr {spec.fingerprint()} lanes={lanes} act_bits={act_bits}")
    rng.shuffle(shapes)

    def draw() -> int:
        offsets = (0, *shapes.pop())
        low = rng.randrange(spec.width - offsets[-1])
        return sum(1 << (low + k) for k in offsets)

    funcs = [draw() for _ in range(outputs)]
    lag = spec.functional_map(spec.steps)
    check, known = set(range(lanes)), {}
    for _ in range(MAX_ROUNDS):
        new = [c for c in set(funcs) if c not in known]
        known.update(zip(new, spec.phases(new), strict=True))
        close = _too_close(spec, [known[c] for c in funcs])
        dependent = _dependent(funcs, lag, lanes, act_bits, check)
        if not close and not dependent:
            return tuple(funcs)
        if len(shapes) < len(close) + len(dependent) * act_bits:
            break
        for o in close:
            funcs[o] = draw()
        for j in dependent:
            funcs[j * act_bits : (j + 1) * act_bits] = [draw() for _ in range(act_bits)]
        check = dependent | {o // act_bits for o in close}
    raise ValueError(f"no output map for {lanes} lanes x {act_bits} bits: widen the LFSR")


def _too_close(spec: SharedLfsrSpec, phases: list[int]) -> set[int]:
    """Outputs whose phase lies within the separation of another output's (of each
    such pair, the later; a repeated functional has distance 0)."""
    order = sorted(range(len(phases)), key=phases.__getitem__)
    bad = set()
    for a, b in zip(order, order[1:] + order[:1], strict=True):
        if a != b and spec.distance(phases[a], phases[b]) < spec.separation:
            bad.add(max(a, b))
    return bad


def _dependent(
    funcs: list[int], lag: list[int], lanes: int, act_bits: int, check: set[int]
) -> set[int]:
    """Lanes among ``check`` that break guarantee (b), with themselves one beat later
    or with any other lane."""
    lane = [funcs[j * act_bits : (j + 1) * act_bits] for j in range(lanes)]
    bad = set()
    for j in sorted(check):
        later = [gf2.apply(lag, c) for c in lane[j]]
        if gf2.rank(lane[j] + later) < 2 * act_bits or any(
            gf2.rank(lane[j] + lane[k]) < 2 * act_bits for k in range(lanes) if k != j
        ):
            bad.add(j)
    return bad


class _Logs:
    """Discrete logarithms in the field the functionals form.

    A functional moves one step later under ``T`` (:meth:`SharedLfsrSpec.functional_map`).
    With a maximal polynomial, ``e0`` (state bit 0) is a cyclic vector of ``T``: every
    functional is ``P(T) e0`` for one polynomial ``P`` of degree < width, read off in the
    basis ``e0, T e0, T^2 e0, ...``, and the functionals form the field GF(2)[x]/(g),
    ``g`` the characteristic polynomial, with ``T`` as multiplication by ``x``. The phase
    of ``c`` is then ``log_x P_c``: Pohlig-Hellman over the prime factors of
    ``2**width - 1``, each by baby steps and giant steps, every functional at once.
    """

    def __init__(self, width: int, mask: int) -> None:
        self.n, self.order = width, (1 << width) - 1
        step = galois_step(width, mask)
        t_map = [sum((col >> j & 1) << i for i, col in enumerate(step)) for j in range(width)]
        krylov = [1]
        for _ in range(width - 1):
            krylov.append(gf2.apply(t_map, krylov[-1]))
        self.coords = gf2.inverse(krylov)
        self.low = gf2.apply(self.coords, gf2.apply(t_map, krylov[-1]))  # x^n mod g
        self.coords_table = gf2.TableMap(self.coords)
        self.square = gf2.TableMap([self.mul(1 << i, 1 << i) for i in range(width)])
        self.factors = sorted((q, _multiplicity(self.order, q)) for q in _prime_factors(self.order))

    @classmethod
    @functools.cache
    def of(cls, width: int, mask: int) -> _Logs:
        return cls(width, mask)

    def mul(self, a: int, b: int) -> int:
        """``a * b`` in the field (Python ints)."""
        r, top = 0, 1 << self.n
        while b:
            if b & 1:
                r ^= a
            b >>= 1
            a <<= 1
            if a & top:
                a ^= top | self.low
        return r

    def power(self, a: int, e: int) -> int:
        r = 1
        for bit in bin(e % self.order)[2:]:
            r = self.mul(r, r)
            if bit == "1":
                r = self.mul(r, a)
        return r

    def times(self, c: int) -> gf2.TableMap:
        """Multiplication by the constant ``c``, a linear map."""
        return gf2.TableMap([self.mul(c, 1 << i) for i in range(self.n)])

    def vmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Element-wise products of two uint64 arrays of field elements."""
        n, r = self.n, np.zeros_like(a)
        full, low = np.uint64(self.order), np.uint64(self.low)
        for i in range(n):
            r ^= a & (np.uint64(0) - ((b >> np.uint64(i)) & np.uint64(1)))
            top = a >> np.uint64(n - 1)
            a = ((a << np.uint64(1)) & full) ^ (low * top)
        return r

    def vpower(self, a: np.ndarray, e: int) -> np.ndarray:
        r = np.ones_like(a)
        for bit in bin(e)[2:]:
            r = self.square(r)
            if bit == "1":
                r = self.vmul(r, a)
        return r

    def phases(self, functionals: list[int]) -> list[int]:
        y = self.coords_table(np.array(functionals, dtype=np.uint64))
        residues = []
        for q, e in self.factors:
            digits = np.zeros(len(functionals), dtype=np.int64)
            gamma = self.power(2, self.order // q)  # x^(order/q): order q
            for k in range(e):
                # y / x^digits, raised to order/q^(k+1), is gamma^(digit k).
                shifted = y.copy()
                for b in range(int(q**k).bit_length()):
                    inv = self.times(self.power(2, -(1 << b)))
                    pick = (digits >> b) & 1 == 1
                    shifted[pick] = inv(shifted[pick])
                target = self.vpower(shifted, self.order // q ** (k + 1))
                digits += self._bsgs(gamma, q, target) * q**k
            residues.append((digits, q**e))
        return [_crt([(int(d[i]), m) for d, m in residues]) for i in range(len(functionals))]

    def _bsgs(self, gamma: int, q: int, target: np.ndarray) -> np.ndarray:
        """``j`` with ``gamma**j == target`` (``gamma`` of order ``q``), element-wise:
        a table of ``gamma**i`` for ``i < m`` (all of them for ``q <= BABY_STEPS``) and
        giant steps of ``gamma**-m``."""
        m = min(q, max(math.isqrt(q - 1) + 1, BABY_STEPS))
        values = np.ones(1, dtype=np.uint64)
        while len(values) < m:  # doubling: [1, .., g^(k-1)] and the same times g^k
            values = np.concatenate([values, self.times(self.power(gamma, len(values)))(values)])
        values = values[:m]
        order = np.argsort(values)
        values = values[order]
        giant = self.times(self.power(gamma, q - m))  # gamma**-m
        found = np.full(len(target), -1, dtype=np.int64)
        cur = target.copy()
        for i in range(-(-q // m)):
            at = np.minimum(np.searchsorted(values, cur), m - 1)
            hit = (values[at] == cur) & (found < 0)
            found[hit] = i * m + order[at[hit]]
            if (found >= 0).all():
                return found % q
            cur = giant(cur)
        raise AssertionError("a discrete logarithm was not found: the polynomial is not maximal")


def _multiplicity(n: int, q: int) -> int:
    e = 0
    while n % q == 0:
        n, e = n // q, e + 1
    return e


def _crt(residues: list[tuple[int, int]]) -> int:
    """The number modulo the product of the coprime moduli with the given residues."""
    x, m = 0, 1
    for r, mod in residues:
        x += m * ((r - x) * pow(m, -1, mod) % mod)
        m *= mod
    return x

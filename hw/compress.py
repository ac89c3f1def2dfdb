"""Carry-chain compressors for the unmasked XNOR datapath, placed by hand on LUT6 and
CARRY4 of Xilinx 7-series, with a generic twin for every other target.

Why by hand: Yosys's ABC maps a popcount for delay. It splits each 6-input 3-lane
counter into a shared LUT2 and two LUT5s, and never folds a small count into the LUTs
that feed a carry chain; a 32-lane XNOR popcount plus accumulator comes to about 80 LUTs
(``python -m bench.xnor_floor``). Here each LUT is placed: a 3-lane counter is two LUT6s,
and each carry-chain position is one LUT computing ``P = a ^ b``, where ``a`` is a plain
bit that also drives the chain's ``DI`` and ``b`` is any function of up to five bits (a
digit of the count of up to five bits, say).

:func:`plan` schedules the reduction of columns of bits from their tokens alone, so the
pipeline depth is known before elaboration; :func:`build_round` turns one round of it into
gateware, as primitives (``xc7=True``) or as plain Amaranth arithmetic that any other
toolchain, and the simulator, maps itself. Both compute the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from amaranth import C, Cat, Const, Instance, Module, Mux, Signal, Value

__all__ = [
    "Chain",
    "Plan",
    "build_round",
    "carry_chain",
    "count_bit",
    "is_xc7",
    "lut",
    "plan",
    "xnor_pairs",
]

#: Bits a chain's first position counts into its ``b`` digits: a LUT6 has six inputs and
#: one of them is the position's ``a``.
MAX_COUNT = 5


def is_xc7(platform: object) -> bool:
    """Whether ``platform`` is an Amaranth Xilinx 7-series platform (LUT6 + CARRY4)."""
    return getattr(platform, "family", None) == "series7"


def count_bit(bits: Sequence[Value | int], k: int) -> Value | int:
    """Bit ``k`` of the number of ones in ``bits``: an Amaranth expression for Values,
    an int for 0/1 ints, so one function describes a LUT to both back-ends."""
    total = sum(bits)
    return total[k] if isinstance(total, Value) else (total >> k) & 1


def lut(
    m: Module, name: str, inputs: Sequence[Value], fn: Callable[..., Value | int], *, xc7: bool
) -> Value:
    """A 1-bit function of the non-constant ``inputs`` (at most six), as one LUT.

    ``fn`` takes one argument per input and must accept 1-bit Values and 0/1 ints alike
    (``&``, ``|``, ``^``, ``x ^ 1`` for negation, :func:`count_bit`). With ``xc7`` it is a
    ``LUTk`` primitive whose INIT tabulates ``fn`` (constant inputs folded in); else the
    expression. A function of constants only is a constant, and costs nothing.
    """
    live, tabulate = _live_table(name, inputs, fn, 6)
    if not live:
        return C(tabulate(0), 1)
    out = Signal(name=name)
    if xc7:
        k = len(live)
        init = sum(tabulate(i) << i for i in range(1 << k))
        ports = {f"i_I{bit}": inputs[j] for bit, j in enumerate(live)}
        m.submodules[name] = Instance(f"LUT{k}", p_INIT=C(init, 1 << k), o_O=out, **ports)
    else:
        m.d.comb += out.eq(fn(*inputs))
    return out


def _live_table(
    name: str, inputs: Sequence[Value], fn: Callable[..., Value | int], most: int
) -> tuple[list[int], Callable[[int], int]]:
    """The positions of the non-constant ``inputs`` (at most ``most``), and ``fn``'s
    value for each assignment of them (bit ``b`` of the index: live input ``b``)."""
    live = [j for j, x in enumerate(inputs) if not isinstance(x, Const)]
    assert len(live) <= most, f"{name}: a LUT has at most {most} inputs, not {len(live)}"

    def tabulate(index: int) -> int:
        args = [x.value if isinstance(x, Const) else 0 for x in inputs]
        for bit, j in enumerate(live):
            args[j] = (index >> bit) & 1
        return fn(*args) & 1

    return live, tabulate


def family(platform: object) -> str | None:
    """``"xc7"`` or ``"ecp5"`` for a platform whose primitives hw places by hand (see
    :func:`is_xc7`; ECP5: LUT4 and PFUMX), else None."""
    if is_xc7(platform):
        return "xc7"
    return "ecp5" if getattr(platform, "family", None) == "ecp5" else None


def mux_lut(
    m: Module,
    name: str,
    select: Value,
    high: tuple[Sequence[Value], Callable[..., Value | int]],
    low: tuple[Sequence[Value], Callable[..., Value | int]],
    *,
    family: str | None,
) -> Value:
    """``high`` where ``select`` is 1, else ``low``; each an ``(inputs, fn)`` of at most
    four non-constant inputs, ``fn`` as for :func:`lut`.

    As a primitive it is a cell of its own, which Yosys neither merges with a twin nor
    lets ABC restructure: a clock enable that reaches hundreds of flip-flops was three
    levels deep when ABC shared a subterm with other logic, and registers that differ
    only in such an enable stay apart. ``family`` ``"ecp5"``: one slice, two ``LUT4``
    and the ``PFUMX`` between them (one level for up to nine inputs); ``"xc7"``: one
    ``LUT6`` (at most six inputs in all); None: the expression.
    """
    if family == "xc7":
        inputs = [select, *high[0], *low[0]]
        cut = 1 + len(high[0])
        return lut(
            m, name, inputs,
            lambda s, *xs: high[1](*xs[: cut - 1]) if s else low[1](*xs[cut - 1 :]), xc7=True,
        )  # fmt: skip
    if family != "ecp5":
        out = Signal(name=name)
        m.d.comb += out.eq(Mux(select, high[1](*high[0]), low[1](*low[0])))
        return out
    halves = []
    for half, (inputs, fn) in (("a", high), ("b", low)):
        live, tabulate = _live_table(f"{name}_{half}", inputs, fn, 4)
        init = sum(tabulate(i & ((1 << len(live)) - 1)) << i for i in range(16))
        pins = [inputs[j] for j in live] + [C(0, 1)] * (4 - len(live))
        z = Signal(name=f"{name}_{half}")
        m.submodules[f"{name}_{half}"] = Instance(
            "LUT4",
            p_INIT=C(init, 16),
            i_A=pins[0],
            i_B=pins[1],
            i_C=pins[2],
            i_D=pins[3],
            o_Z=z,
        )
        halves.append(z)
    out = Signal(name=name)
    m.submodules[name] = Instance("PFUMX", i_ALUT=halves[0], i_BLUT=halves[1], i_C0=select,
                                  o_Z=out)  # fmt: skip
    return out


@dataclass(frozen=True)
class Chain:
    """One carry chain of a round, over columns ``col .. col + len(a) - 1``; tokens name
    bits (see :func:`plan`).

    ``cin`` enters as carry-in (weight ``col``). Position ``i`` adds ``a[i]`` and ``b[i]``
    (either may be None, meaning 0), except that the first positions add, instead of
    ``b``, the digits of the number of ones among ``count`` (bits of column ``col``) and
    of matching pairs among ``lanes`` (lane tokens, each a weight and an activation bit:
    two LUT inputs). ``out[i]`` is the sum bit of position ``i``; ``out[-1]`` the carry
    out, None where it would fall past the top column.
    """

    col: int
    cin: int | None
    count: tuple[int, ...]
    lanes: tuple[int, ...]
    a: tuple[int | None, ...]
    b: tuple[int | None, ...]
    out: tuple[int | None, ...]


@dataclass(frozen=True)
class Plan:
    """The whole reduction: ``rounds`` of chains (each round registered) and the final
    row, a token or None per column."""

    rounds: tuple[tuple[Chain, ...], ...]
    row: tuple[int | None, ...]

    @property
    def positions(self) -> int:
        """Carry-chain positions, one LUT each."""
        return sum(len(ch.a) for r in self.rounds for ch in r)

    def needed_after(self, k: int) -> set[int]:
        """Tokens a later round or the final row reads: what round ``k``'s register
        must hold."""
        later = [t for r in self.rounds[k + 1 :] for ch in r for t in _operands(ch)]
        return {t for t in (*later, *self.row) if t is not None}


class _Tokens:
    def __init__(self, first: int) -> None:
        self.next = first

    def new(self) -> int:
        self.next += 1
        return self.next - 1


def plan(
    columns: Sequence[Sequence[int]],
    first_free: int,
    lanes: Sequence[Sequence[int]] = (),
) -> Plan | None:
    """The cheapest (fewest positions, then fewest rounds) of :func:`_plan` over the
    sizes round 1's counting chains may take; None if none can count every lane token.

    ``lanes`` lists, per column, lane tokens: XNOR pairs that round 1 must count inside
    a chain (two LUT inputs each) rather than as bits.
    """
    candidates = [
        _plan(columns, first_free, lanes, most, least)
        for most in range(MAX_COUNT + 2, 1, -1)
        for least in range(2, most + 1)
    ]
    feasible = [p for p in candidates if p is not None]
    return min(feasible, key=lambda p: (p.positions, len(p.rounds)), default=None)


def _plan(
    columns: Sequence[Sequence[int]],
    first_free: int,
    lanes: Sequence[Sequence[int]],
    most: int,
    least: int,
) -> Plan | None:
    """Plan the reduction of ``columns`` (tokens of the bits of each column, LSB first)
    to one bit per column, modulo ``2**len(columns)``; new tokens count up from
    ``first_free``. None if a lane token is left uncounted.

    Round 1 forms counting chains of ``least`` to ``most`` bits of a column (carry-in,
    ``a`` and a count of the rest, at most five LUT inputs, lane tokens first), with the
    next columns' bits as ``a`` of the count's upper digits. Every later round adds the rows
    (chain results) in pairs, lowest first; the bits no chain took wait in a pool and
    enter as carry-ins, in free ``a``/``b`` slots, or, when no pair is left, as a row.
    """
    width = len(columns)
    tok = _Tokens(first_free)
    pool: list[list[int]] = [list(c) for c in columns]
    rows: list[dict[int, int]] = []
    rounds: list[tuple[Chain, ...]] = []

    def take(c: int) -> int | None:
        return pool[c].pop() if c < width and pool[c] else None

    def outputs(col: int, n: int) -> tuple[int | None, ...]:
        return tuple(tok.new() if col + i < width else None for i in range(n + 1))

    waiting = [list(lanes[c]) if c < len(lanes) else [] for c in range(width)]
    chains = []
    for c in range(width):
        while len(pool[c]) >= least or (waiting[c] and len(pool[c]) >= 2):
            cin, a0 = take(c), take(c)
            counted = tuple(waiting[c].pop() for _ in range(min(len(waiting[c]), 2)))
            budget = min(MAX_COUNT - 2 * len(counted), most - 2)
            count = tuple(take(c) for _ in range(min(len(pool[c]), budget)))
            n = min(max((len(count) + len(counted)).bit_length(), 1), width - c)
            a = (a0, *(take(c + i) for i in range(1, n)))
            chain = Chain(c, cin, count, counted, a, (None,) * n, outputs(c, n))
            chains.append(chain)
            rows.append(_row(chain))
    if any(waiting):
        return None
    if chains:
        rounds.append(tuple(chains))

    def crowded() -> bool:
        return any(sum(c in r for r in rows) + len(pool[c]) > 1 for c in range(width))

    while crowded():
        while len(rows) < 2:
            rows.append({c: take(c) for c in range(width) if pool[c]})
        rows.sort(key=lambda r: (min(r), -max(r)))
        chains, nxt = [], []
        for x, y in zip(rows[0::2], rows[1::2], strict=False):
            start = max(min(x), min(y))
            # Run down while a free slot there can take a pool bit.
            while start > min(min(x), min(y)) and pool[start - 1]:
                start -= 1
            top = min(max(max(x), max(y)), width - 1)
            # Free slots at the top: run on while the pool has bits there.
            while top + 1 < width and pool[top + 1]:
                top += 1
            a, b = [], []
            for c in range(start, top + 1):
                ai, bi = x.get(c), y.get(c)
                a.append(ai if ai is not None else take(c))
                b.append(bi if bi is not None else take(c))
            n = top - start + 1
            chain = Chain(start, take(start), (), (), tuple(a), tuple(b), outputs(start, n))
            low = {c: t for r in (x, y) for c, t in r.items() if c < start}
            chains.append(chain)
            nxt.append(low | _row(chain))
        if len(rows) % 2:
            nxt.append(rows[-1])
        rounds.append(tuple(chains))
        rows = nxt
    row = {c: t for r in rows for c, t in r.items()}
    row |= {c: pool[c].pop() for c in range(width) if pool[c]}
    return Plan(tuple(rounds), tuple(row.get(c) for c in range(width)))


def _operands(chain: Chain) -> tuple[int | None, ...]:
    return (*chain.count, *chain.lanes, *chain.a, *chain.b, chain.cin)


def _row(chain: Chain) -> dict[int, int]:
    return {chain.col + i: t for i, t in enumerate(chain.out) if t is not None}


def build_round(
    m: Module, name: str, chains: Sequence[Chain], value: dict[int, Value], *, xc7: bool
) -> None:
    """Gateware of one round: each chain's outputs go into ``value`` (token -> Value;
    a lane token's Value is its two bits), combinational; the caller registers them."""
    for k, ch in enumerate(chains):
        n = len(ch.a)
        zero = C(0, 1)
        a = [value[t] if t is not None else zero for t in ch.a]
        count = [value[t] for t in ch.count]
        count += [value[t][k] for t in ch.lanes for k in (0, 1)]
        digits = (len(ch.count) + len(ch.lanes)).bit_length()
        n_bits = len(ch.count)
        terms: list[tuple[list[Value], Callable[..., Value | int]]] = []
        for i in range(n):
            if i < digits:
                terms.append((count, lambda *xs, i=i, nb=n_bits: count_bit(xnor_pairs(xs, nb), i)))
            else:
                t = ch.b[i]
                terms.append(([value[t] if t is not None else zero], lambda x: x))
        cin = value[ch.cin] if ch.cin is not None else zero
        bits = carry_chain(m, f"{name}_{k}", a, terms, cin, xc7=xc7)
        for i, t in enumerate(ch.out):
            if t is not None:
                value[t] = bits[i]


def carry_chain(
    m: Module,
    name: str,
    a: list[Value],
    terms: list[tuple[list[Value], Callable[..., Value | int]]],
    cin: Value,
    *,
    xc7: bool,
) -> Value:
    """``a + b + cin`` over ``len(a)`` positions, ``b[i] = fn(*inputs)`` of ``terms[i]``
    (``fn`` as for :func:`lut`, at most five inputs);
    ``len(a) + 1`` bits. On Xilinx ``a[i]`` drives DI and one LUT per position computes
    ``a[i] ^ b[i]``: a CARRY4 passes ``DI`` on where that is 0, when ``a == b``."""
    n = len(a)
    if not xc7:
        out = Signal(n + 1, name=name)
        m.d.comb += out.eq(Cat(*a) + Cat(*(fn(*ins) for ins, fn in terms)) + cin)
        return out
    props = [
        lut(m, f"{name}_p{i}", [a[i], *ins], lambda x, *ys, fn=fn: x ^ fn(*ys), xc7=True)
        for i, (ins, fn) in enumerate(terms)
    ]
    sums: list[Value] = []
    carry: Value = C(0, 1)
    for s in range(-(-n // 4)):
        idx = range(4 * s, min(4 * s + 4, n))
        pad = 4 - len(idx)
        o, co = Signal(4, name=f"{name}_o{s}"), Signal(4, name=f"{name}_co{s}")
        m.submodules[f"{name}_carry{s}"] = Instance(
            "CARRY4",
            i_CI=carry,
            i_CYINIT=cin if s == 0 else C(0, 1),
            i_DI=Cat(*(a[i] for i in idx), C(0, pad)),
            i_S=Cat(*(props[i] for i in idx), C(0, pad)),
            o_O=o,
            o_CO=co,
        )
        sums += [o[j] for j in range(len(idx))]
        carry = co[len(idx) - 1]
    return Cat(*sums, carry)


def xnor_pairs(xs: Sequence[Value | int], n_bits: int) -> list[Value | int]:
    """The first ``n_bits`` of ``xs`` as they are, then the XNOR of each following pair
    (a lane's weight and activation bits: 1 where they match)."""
    pairs = xs[n_bits:]
    return [*xs[:n_bits], *(x ^ y ^ 1 for x, y in zip(pairs[0::2], pairs[1::2], strict=True))]

"""The stochastic binarizer: one bit per activation code, 1 with probability q / 2**B."""

from __future__ import annotations

import functools
import operator

from amaranth import C, Cat, Module, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import BinarizerSpec

from .compress import carry_chain, is_xc7
from .lfsr import LfsrBank
from .shared_lfsr import SharedLfsrBank


class StochasticBinarizer(wiring.Component):
    """``lanes`` comparators fed by the random source the spec names (SPEC section 3): an
    :class:`~hw.lfsr.LfsrBank` (``source="lanes"``) or a
    :class:`~hw.shared_lfsr.SharedLfsrBank` (``source="shared"``).

    Lane ``j`` of beat ``t`` carries stream element ``k = t * lanes + j`` and emits
    ``b = 1`` iff ``r_k < q`` (``r_k`` lane ``j``'s random code), or with
    ``deterministic`` iff ``q >= 2**(act_bits-1)``: exactly :func:`model.binarize.binarize`.

    Latency one cycle (a registered output); throughput one beat per cycle with
    back-pressure on both sides (``i.ready`` is high whenever the output register is
    empty or being emptied, and no seed load is in progress).

    Parameters
    ----------
    lanes, act_bits, seed : int
        As :class:`spec.BinarizerSpec`; the seed is the bank's reset state.
    deterministic : bool
        Build the threshold ablation: no LFSRs, the seed ports do nothing.
    source : str
        ``"lanes"`` or ``"shared"`` (:data:`spec.SOURCES`; the shared source's fields are
        :class:`spec.SharedLfsrSpec`'s defaults).

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(unsigned(act_bits), lanes)))
        Codes, lane ``j`` = element ``beat * lanes + j``.
    o : Out(stream.Signature(unsigned(lanes)))
        Bits, bit ``j`` = lane ``j``.
    seed, load, busy, seed_error :
        The bank's run-time seed interface (see :class:`~hw.lfsr.LfsrBank`).

    Raises
    ------
    ValueError
        Parameters that :class:`spec.BinarizerSpec` refuses (zero seed, act_bits 0, ...).
    """

    def __init__(
        self,
        *,
        lanes: int,
        act_bits: int,
        seed: int,
        deterministic: bool = False,
        source: str = "lanes",
    ):
        self.spec = BinarizerSpec(
            lanes=lanes, act_bits=act_bits, seed=seed, deterministic=deterministic, source=source
        )
        super().__init__(
            {
                "i": In(stream.Signature(data.ArrayLayout(unsigned(act_bits), lanes))),
                "o": Out(stream.Signature(unsigned(lanes))),
                "seed": In(self.spec.seed_bits),
                "load": In(1),
                "busy": Out(1),
                "seed_error": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec = self.spec
        # The output register takes a beat whenever it is empty or being emptied; one
        # that no beat enters is then marked empty, so its enable is two registers deep.
        free = ~self.o.valid | self.o.ready
        if spec.deterministic:
            bits = [self.i.payload[j][-1] for j in range(spec.lanes)]
            m.d.comb += self.i.ready.eq(free)
        else:
            # A beat is wanted from the source: one function, handed to the shared bank too
            # (SharedLfsrBank.ready_terms), so its enable and o.ready cannot drift apart.
            want = ([self.i.valid, self.o.valid, self.o.ready],
                    lambda valid, full, ready: valid & ((full ^ 1) | ready))  # fmt: skip
            if spec.source == "shared":
                bank = SharedLfsrBank(lanes=spec.lanes, act_bits=spec.act_bits, seed=spec.seed,
                                      source=spec.shared)  # fmt: skip
                bank.ready_terms = want
                bits = self._below_shared(m, bank, is_xc7(platform))
            else:
                bank = LfsrBank(lanes=spec.lanes, act_bits=spec.act_bits, seed=spec.seed,
                                lfsr=spec.lfsr)  # fmt: skip
                bits = [bank.o.payload[j] < self.i.payload[j] for j in range(spec.lanes)]
            m.submodules.bank = bank
            m.d.comb += [
                self.i.ready.eq(free & bank.o.valid),
                bank.o.ready.eq(want[1](*want[0])),
                bank.seed.eq(self.seed),
                bank.load.eq(self.load),
                self.busy.eq(bank.busy),
                self.seed_error.eq(bank.seed_error),
            ]
        with m.If(free):
            m.d.sync += [self.o.valid.eq(self.i.valid & self.i.ready),
                         self.o.payload.eq(Cat(*bits))]  # fmt: skip
        return m

    def _below_shared(self, m: Module, bank: SharedLfsrBank, xc7: bool) -> list[Value]:
        """``r < q`` of every lane, ``r``'s bits read from the shared state's taps.

        ``r < q`` is the carry out of ``q + ~r``: a carry chain with ``q`` on its ``DI``
        inputs whose position ``i`` is one LUT of ``q_i`` and output ``i``'s taps
        (:func:`hw.compress.carry_chain`), so the phase shifter's XORs cost no LUT of
        their own (on 7 series, placed as LUT6 and CARRY4; elsewhere as the sum, which
        the toolchain maps).
        """
        spec, funcs = self.spec, self.spec.output_map()
        width, bits = spec.shared.width, spec.act_bits
        not_parity = lambda *taps: functools.reduce(operator.xor, taps) ^ 1  # noqa: E731
        below = []
        for j in range(spec.lanes):
            q = self.i.payload[j]
            state = bank.state_for(j)
            terms = [([state[k] for k in range(width) if funcs[j * bits + b] >> k & 1],
                      not_parity) for b in range(bits)]  # fmt: skip
            total = carry_chain(m, f"below{j}", [q[b] for b in range(bits)], terms, C(0, 1),
                                xc7=xc7)  # fmt: skip
            below.append(total[bits])
        return below

"""The training-time store path: codes -> stochastic binarizer -> packed activation SRAM."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import BinarizerSpec, PackingSpec

from .act_sram import ActivationSRAM, check_read_latency, sram_ports
from .binarizer import StochasticBinarizer


class BinarizeAndStore(wiring.Component):
    """A :class:`~hw.binarizer.StochasticBinarizer` feeding an
    :class:`~hw.act_sram.ActivationSRAM`: the words in memory equal
    ``model.pack.pack_bits(model.binarize.binarize(codes, ...), word_bits)``.

    A tensor's codes go in as beats of ``lanes`` codes (element ``k`` in lane
    ``k % lanes`` of beat ``k // lanes``), the final beat padded with code 0 (which
    always binarizes to 0, matching the packer's zero padding) and marked ``last``.
    Latency from a beat to its bits reaching the SRAM's packer: one cycle; throughput
    one beat per cycle (the SRAM never stalls). ``last`` travels beside the
    binarizer's one-beat output register.

    Parameters
    ----------
    lanes, act_bits, seed, deterministic :
        As :class:`~hw.binarizer.StochasticBinarizer`.
    source : str
        The binarizer's random source (:data:`spec.SOURCES`): by default ``"shared"``,
        one LFSR for all lanes (``docs/formats.md`` section 3b), about a fifth of the
        logic of ``"lanes"``, an LFSR per lane (SPEC section 4).
    word_bits, depth, read_latency :
        As :class:`~hw.act_sram.ActivationSRAM` (``lanes`` must divide ``word_bits``).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"codes": ArrayLayout(unsigned(act_bits), lanes),
            "last": unsigned(1)})))
        Code beats.
    seed, load, loading, seed_error :
        The binarizer's seed interface (``loading`` is its ``busy``).
    clear, count, overflow, rd_addr, rd_data, replay, busy, o :
        The SRAM's ports of the same names.

    Raises
    ------
    ValueError, TypeError
        Parameters that either block refuses.
    """

    def __init__(
        self,
        *,
        lanes: int,
        act_bits: int,
        seed: int,
        deterministic: bool = False,
        source: str = "shared",
        word_bits: int = 32,
        depth: int = 1024,
        read_latency: int = 1,
    ):
        self.spec = BinarizerSpec(
            lanes=lanes, act_bits=act_bits, seed=seed, deterministic=deterministic, source=source
        )
        self.packing = PackingSpec(word_bits=word_bits, depth=depth)
        check_read_latency(read_latency)
        self.read_latency = read_latency
        beat = data.StructLayout(
            {"codes": data.ArrayLayout(unsigned(act_bits), lanes), "last": unsigned(1)}
        )
        sram = sram_ports(self.packing, lanes)
        del sram["i"]
        super().__init__(
            {
                "i": In(stream.Signature(beat)),
                "seed": In(self.spec.seed_bits),
                "load": In(1),
                "loading": Out(1),
                "seed_error": Out(1),
                **sram,
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec = self.spec
        m.submodules.binarizer = b = StochasticBinarizer(
            lanes=spec.lanes, act_bits=spec.act_bits, seed=spec.seed,
            deterministic=spec.deterministic, source=spec.source,
        )  # fmt: skip
        m.submodules.sram = s = ActivationSRAM(
            lanes=spec.lanes, word_bits=self.packing.word_bits, depth=self.packing.depth,
            read_latency=self.read_latency,
        )  # fmt: skip
        last = Signal()  # `last` of the beat in the binarizer's output register
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += last.eq(self.i.payload.last)
        m.d.comb += [
            b.i.valid.eq(self.i.valid),
            b.i.payload.eq(self.i.payload.codes),
            self.i.ready.eq(b.i.ready),
            s.i.valid.eq(b.o.valid),
            s.i.payload.data.eq(b.o.payload),
            s.i.payload.last.eq(last),
            b.o.ready.eq(s.i.ready),
            b.seed.eq(self.seed),
            b.load.eq(self.load),
            self.loading.eq(b.busy),
            self.seed_error.eq(b.seed_error),
            s.clear.eq(self.clear),
            s.rd_addr.eq(self.rd_addr),
            s.replay.eq(self.replay),
            self.count.eq(s.count),
            self.overflow.eq(s.overflow),
            self.rd_data.eq(s.rd_data),
            self.busy.eq(s.busy),
        ]
        wiring.connect(m, s.o, wiring.flipped(self.o))
        return m

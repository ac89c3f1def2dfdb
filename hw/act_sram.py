"""Activation SRAM (SPEC section 5): packs a bit stream into words and replays them."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import PackingSpec

from .bram import BlockRAM

__all__ = ["ActivationSRAM"]


def check_read_latency(read_latency: object) -> None:
    """Refuse a read latency other than 1 or 2 cycles."""
    if read_latency not in (1, 2):
        raise ValueError(f"read_latency must be 1 or 2, not {read_latency!r}")


def sram_ports(spec: PackingSpec, lanes: int) -> dict[str, wiring.Member]:
    """The ports of an :class:`ActivationSRAM` of ``spec`` fed ``lanes`` bits per beat
    (checked: ``lanes`` must divide a word into whole beats)."""
    spec.beats_per_word(lanes)
    beat = data.StructLayout({"data": unsigned(lanes), "last": unsigned(1)})
    word = data.StructLayout({"data": unsigned(spec.word_bits), "last": unsigned(1)})
    return {
        # Not `always_ready=True`: a constant port makes `verilog.convert` of this
        # component fail (amaranth-lang/amaranth#1574, open in 0.5.10), and the
        # cocotb tier converts it on its own. `i.ready` is driven to 1 instead.
        "i": In(stream.Signature(beat)),
        "clear": In(1),
        "count": Out(range(spec.depth + 1)),
        "overflow": Out(1),
        "rd_addr": In(range(spec.depth)),
        "rd_data": Out(spec.word_bits),
        "replay": In(1),
        "busy": Out(1),
        "o": Out(stream.Signature(word)),
    }


class ActivationSRAM(wiring.Component):
    """Packs ``lanes``-bit beats into ``word_bits``-bit words in block RAM, and reads them
    back by address or as an in-order replay stream.

    Bit and word order (SPEC section 5): lane ``j`` of input beat ``t`` is element
    ``k = t*lanes + j`` of the tensor's bit stream, and element ``k`` is bit
    ``k % word_bits`` of word ``k // word_bits`` (LSB first), so beat ``b`` of a word
    occupies bits ``b*lanes .. (b+1)*lanes - 1``. A beat with ``last`` set ends the
    tensor: a partial word is written zero-padded and the next tensor starts on a new
    word. Pad a tensor's final beat with zeros when its length is not a multiple of
    ``lanes`` (the padding lands in the zero padding of its last word).

    Write side: ``i`` is always ready (``i.ready`` is driven to 1), one beat per cycle.
    A word is written in the cycle its final beat (or a ``last`` beat) is accepted;
    ``count`` shows it from the next cycle. A word that would go to address ``depth``
    is not written: ``overflow`` rises in the next cycle and stays high until ``clear``;
    nothing wraps and no stored word changes. Later beats are dropped the same way.
    ``clear`` (a one-cycle pulse) empties the write side: write pointer, partial word,
    ``count`` and ``overflow`` return to zero; a beat accepted in the same cycle as
    ``clear`` is dropped. The stored words are not erased, and a replay in progress
    goes on.

    Reads share the memory's one synchronous read port, so the SRAM maps to block RAM
    (:class:`hw.bram.BlockRAM`). ``L = read_latency`` is 1 (SPEC 5) or 2 (the block
    RAM's output register, for clocks above about 140 MHz on ECP5):

    - By address, while ``busy`` is low: the word at ``rd_addr`` in cycle ``t`` is on
      ``rd_data`` in cycle ``t + L``, one read per cycle. Do not read the address
      written in the same cycle (the generic memory returns the old word; ECP5 block
      RAM leaves it undefined). ``rd_data`` has no defined value before the first read
      (in Verilog simulation it is ``x``).
    - Replay: a ``replay`` pulse while ``busy`` is low and ``count`` is non-zero starts
      streaming words ``0 .. n-1`` on ``o``, where ``n`` is ``count`` in the cycle of the
      pulse; ``last`` is set on word ``n-1``. ``busy`` is high from the next cycle until
      the cycle after the final word is accepted; the first word is valid ``L + 1``
      cycles after the pulse; then one word per cycle while ``o.ready`` is high, with
      full back-pressure (the read pipeline's enable holds it while ``o`` stalls).
      ``replay`` is ignored while ``busy``; with ``count == 0`` it does nothing. While
      ``busy``, ``rd_addr`` is ignored and ``rd_data`` shows the replay word.

    Parameters
    ----------
    lanes : int
        Bits per input beat: a power of two, at most ``word_bits``.
    word_bits : int
        Bits per memory word, one of 8, 16, 32, 64 (:class:`spec.PackingSpec`).
    depth : int
        Memory words, 1..2**24 (:class:`spec.PackingSpec`).
    read_latency : int
        1 (default, SPEC 5) or 2 (see above).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"data": unsigned(lanes), "last": unsigned(1)})))
        Bit beats, lane ``j`` in bit ``j`` of ``data``; ``last`` on a tensor's final beat.
        ``i.ready`` is always 1.
    clear : In(1)
        Pulse: empty the write side (see above).
    count : Out(range(depth + 1))
        Words written since reset or ``clear``.
    overflow : Out(1)
        Sticky: a word was refused because the memory was full.
    rd_addr : In(range(depth))
        Read address.
    rd_data : Out(word_bits)
        Word read from ``rd_addr`` ``read_latency`` cycles earlier (while not ``busy``).
    replay : In(1)
        Pulse: start a replay of words ``0 .. count-1`` on ``o``.
    busy : Out(1)
        A replay is in progress.
    o : Out(stream.Signature(StructLayout({"data": unsigned(word_bits),
            "last": unsigned(1)})))
        Replayed words in address order; ``last`` on the final one.
    spec : PackingSpec
        The packing parameters (``word_bits``, ``depth``).
    lanes : int
        Bits per input beat.

    Raises
    ------
    TypeError
        ``lanes``, ``word_bits`` or ``depth`` is not an integer.
    ValueError
        ``word_bits`` or ``depth`` out of range, or ``lanes`` not a power of two no larger
        than ``word_bits``.
    """

    def __init__(
        self, *, lanes: int, word_bits: int = 32, depth: int = 1024, read_latency: int = 1
    ) -> None:
        self.spec = PackingSpec(word_bits=word_bits, depth=depth)
        check_read_latency(read_latency)
        self.lanes, self.read_latency = lanes, read_latency
        super().__init__(sram_ports(self.spec, lanes))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        lanes, word_bits, depth = self.lanes, self.spec.word_bits, self.spec.depth
        beats = self.spec.beats_per_word(lanes)

        # One synchronous read port for both address reads and replay: no asynchronous
        # read, so it maps to block RAM.
        m.submodules.mem = mem = BlockRAM(
            width=word_bits, depth=depth, read_latency=self.read_latency
        )

        # --- Write side: assemble a word beat by beat; write it when full or on `last`.
        wptr = self.count  # the next address to write is the number of words written
        beat = self.i.payload
        if beats == 1:
            word = beat.data
            flush = 1
        else:
            # Slots 0 .. beats-2 of the word being assembled (the top slot is never held:
            # the word is written in the cycle it arrives). Slots at or above `slot` are
            # always zero, which is what zero-pads a partial word.
            held = Signal(word_bits - lanes)
            slot = Signal(range(beats))
            word = Cat(
                Mux(slot == b, beat.data, held[b * lanes : (b + 1) * lanes] if b < beats - 1 else 0)
                for b in range(beats)
            )
            flush = beat.last | (slot == beats - 1)

        full = wptr == depth
        m.d.comb += [self.i.ready.eq(1), mem.w_addr.eq(wptr), mem.w_data.eq(word)]
        with m.If(self.clear):
            m.d.sync += [wptr.eq(0), self.overflow.eq(0)]
            if beats > 1:
                m.d.sync += [held.eq(0), slot.eq(0)]
        with m.Elif(self.i.valid):
            with m.If(flush):
                with m.If(full):
                    m.d.sync += self.overflow.eq(1)  # refuse: no write, no wrap
                with m.Else():
                    m.d.comb += mem.w_en.eq(1)
                    m.d.sync += wptr.eq(wptr + 1)
                if beats > 1:
                    m.d.sync += [held.eq(0), slot.eq(0)]
            if beats > 1:
                with m.Else():
                    m.d.sync += [held.eq(word[: word_bits - lanes]), slot.eq(slot + 1)]

        # --- Read side. The read pipeline is the replay's output register: `o.valid` says
        # its last stage holds an unconsumed word, and its enable is held low while `o`
        # stalls, so every stage stays put (back-pressure without a skid buffer).
        raddr = Signal(range(depth + 1))  # next replay address to read
        rlen = Signal(range(depth + 1))  # words in this replay
        is_last = Signal()  # the word in the last stage is the replay's final one
        # Latency 2: the stage inside the RAM, whether it holds a replay word and its flag.
        inner_valid, inner_last = Signal(), Signal()
        m.d.comb += [
            self.rd_data.eq(mem.r_data),
            self.o.payload.data.eq(mem.r_data),
            self.o.payload.last.eq(is_last),
        ]
        with m.If(~self.busy):
            m.d.comb += [mem.r_addr.eq(self.rd_addr), mem.r_en.eq(1)]
            with m.If(self.replay & (wptr != 0)):
                m.d.sync += [self.busy.eq(1), raddr.eq(0), rlen.eq(wptr), inner_valid.eq(0)]
        with m.Else():
            advance = ~self.o.valid | self.o.ready  # the pipeline may move on
            issue = advance & (raddr != rlen)  # and read the next replay word
            m.d.comb += mem.r_addr.eq(raddr)
            with m.If(issue):
                m.d.sync += raddr.eq(raddr + 1)
            if self.read_latency == 1:
                # `r_en` must be low unless issuing: the read register is the output stage.
                m.d.comb += mem.r_en.eq(issue)
                nxt_valid, nxt_last = issue, raddr == rlen - 1
            else:
                m.d.comb += mem.r_en.eq(advance)
                nxt_valid, nxt_last = inner_valid, inner_last
                with m.If(advance):
                    m.d.sync += [inner_valid.eq(issue), inner_last.eq(raddr == rlen - 1)]
            with m.If(advance):
                m.d.sync += [self.o.valid.eq(nxt_valid), is_last.eq(nxt_last)]
                with m.If(~nxt_valid & ~issue):
                    # The final word was just taken (or never issued): the replay is done.
                    m.d.sync += self.busy.eq(0)

        return m

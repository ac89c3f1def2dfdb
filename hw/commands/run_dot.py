"""RUN_DOT: one dot product through the datapath (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from spec import RESPONSES, DeviceSpec, Mode, Opcode, Status, StatusFlag

from ..xnor_acc import beat_layout
from .base import Command, Reply, answer, pack
from .gather import CodeGather

__all__ = ["RunDot"]


class RunDot(Command):
    """Streams ``n`` elements to the datapath, ``lanes`` per beat: weight bits from the
    weight buffer at ``w_addr``; activation bits from the SRAM at ``a_addr`` (xnor and
    and modes) or the tail's codes (code mode). A final partial beat is masked. The
    sum goes straight into the result FIFO; the answer (the FIFO's level) comes once it
    is there, or ``OVERFLOW`` (raising ``RESULT_OVERFLOW``) if the FIFO was full and
    the sum was lost. The checks and their order are ``docs/protocol.md``'s. Up to two
    cycles per beat in the bit modes; in code mode the tail's byte rate.

    Attributes
    ----------
    rd_addr, rd_data, count :
        The SRAM's read port and word count.
    weight_rd : In(memory.ReadPort.Signature(...))
        The weight buffer's read port (driven here).
    dot : Out(stream.Signature(beat_layout(device.datapath)))
        Beats to the datapath; ``mode`` (Out(2)) with them.
    sums : In(stream.Signature(signed(acc_bits)))
        The datapath's sums; always taken.
    push : Out(stream.Signature(acc_bits))
        The result FIFO's write side; ``pending`` (In) its level.
    raise_flag : Out(1)
        Pulse: set :attr:`FLAG`.
    """

    FLAG = StatusFlag.RESULT_OVERFLOW

    def __init__(self, device: DeviceSpec):
        port = memory.ReadPort.Signature(
            addr_width=ceil_log2(device.weight_depth), shape=unsigned(device.word_bits)
        )
        super().__init__(
            Opcode.RUN_DOT,
            device,
            {"rd_addr": Out(range(device.depth)), "rd_data": In(device.word_bits),
             "count": In(range(device.depth + 1)), "weight_rd": In(port),
             "dot": Out(stream.Signature(beat_layout(device.datapath))), "mode": Out(2),
             "sums": In(stream.Signature(signed(device.acc_bits))),
             "push": Out(stream.Signature(device.acc_bits)),
             "pending": In(range(device.result_depth + 1)), "raise_flag": Out(1)},
        )  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dev = self.device
        lanes, act_bits, word_bits = dev.lanes, dev.act_bits, dev.word_bits
        bpw = dev.beats_per_word
        layout = RESPONSES[Opcode.RUN_DOT]
        m.submodules.reply = reply = Reply(layout.fixed_bytes)
        m.submodules.gather = gather = CodeGather(dev)
        wiring.connect(m, reply.o, wiring.flipped(self.o))

        f = self.fields
        code = Signal()
        m.d.comb += [code.eq(f.mode == Mode.CODE.value), self.mode.eq(f.mode[:2])]
        w_ptr = Signal(range(dev.weight_depth + 1))
        a_ptr = Signal(range(dev.depth + 1))
        left = Signal(range(dev.weight_depth * word_bits + 1))  # elements not yet issued
        slot = Signal(range(max(bpw, 2)))  # beat within the current words
        first, dropped = Signal(), Signal()
        settle = Signal(2)
        m.d.comb += [self.rd_addr.eq(a_ptr), self.weight_rd.addr.eq(w_ptr)]

        # Sums go straight into the FIFO; one that finds it full is dropped and flagged.
        m.d.comb += [
            self.push.valid.eq(self.sums.valid),
            self.push.payload.eq(self.sums.payload),
            self.sums.ready.eq(1),
        ]
        with m.If(self.sums.valid & ~self.push.ready):
            m.d.comb += self.raise_flag.eq(1)
            m.d.sync += dropped.eq(1)

        # The beat offered to the datapath.
        w_bits = self.weight_rd.data.word_select(slot, lanes) if bpw > 1 else self.weight_rd.data
        a_bits = self.rd_data.word_select(slot, lanes) if bpw > 1 else self.rd_data
        from_sram = Cat(Cat(a_bits[j], C(0, act_bits - 1)) for j in range(lanes))
        is_last = Signal()
        beat = self.dot.payload
        m.d.comb += [
            is_last.eq(left <= lanes),
            beat.w.eq(w_bits),
            beat.a.eq(Mux(code, gather.o.payload.codes.as_value(), from_sram)),
            beat.valid.eq(Cat(left > j for j in range(lanes))),
            beat.first.eq(first),
            beat.last.eq(is_last),
        ]

        n_words = (f.n + word_bits - 1) >> exact_log2(word_bits)
        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += settle.eq(0)
                with m.If(self.start):
                    with m.If(~Cat(f.mode == mode.value for mode in Mode).any()):
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Elif(Mux(code, self.tail != f.n * dev.code_bytes, self.tail != 0)):
                        answer(m, reply, Status.BAD_LENGTH)
                    with m.Elif(
                        (f.n == 0)
                        | (f.w_addr + n_words > dev.weight_depth)
                        | (~code & (f.a_addr + n_words > self.count))
                    ):
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Else():
                        m.d.sync += [
                            w_ptr.eq(f.w_addr),
                            a_ptr.eq(f.a_addr),
                            left.eq(f.n),
                            slot.eq(0),
                            first.eq(1),
                            dropped.eq(0),
                        ]
                        m.next = "READ"
            # Both memories read the word at their pointer every cycle, so data is
            # ready one cycle after a pointer moves: READ is that cycle.
            with m.State("READ"):
                with m.If(code):
                    wiring.connect(m, wiring.flipped(self.i), gather.i)
                m.next = "ISSUE"
            with m.State("ISSUE"):
                with m.If(code):
                    wiring.connect(m, wiring.flipped(self.i), gather.i)
                m.d.comb += [
                    self.dot.valid.eq(~code | gather.o.valid),
                    gather.o.ready.eq(code & self.dot.ready),
                ]
                with m.If(self.dot.valid & self.dot.ready):
                    m.d.sync += [first.eq(0), left.eq(left - lanes)]
                    with m.If(is_last):
                        m.next = "WAIT"
                    with m.Elif(slot == bpw - 1):
                        m.d.sync += [slot.eq(0), w_ptr.eq(w_ptr + 1), a_ptr.eq(a_ptr + 1)]
                        m.next = "READ"
                    with m.Else():
                        m.d.sync += slot.eq(slot + 1)
            with m.State("WAIT"):
                with m.If(self.sums.valid):
                    m.next = "SETTLE"
            with m.State("SETTLE"):
                # The FIFO's level counts the sum two cycles after it is pushed.
                m.d.sync += settle.eq(settle + 1)
                with m.If(settle == 1):
                    with m.If(dropped):
                        answer(m, reply, Status.OVERFLOW)
                    with m.Else():
                        answer(m, reply, Status.OK, layout.fixed_bytes,
                               pack(layout, {"pending": self.pending}))  # fmt: skip
                    m.next = "IDLE"
        return m

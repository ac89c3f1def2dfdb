"""The sbq top level (SPEC sections 8-9): the host link, the store path, a weight buffer,
the XNOR/accumulate datapath and a result FIFO behind one command handler.

:class:`CommandHandler` implements every :class:`spec.Opcode` (``docs/protocol.md``
section 5 gives each command's exact semantics). :class:`SbqCore` joins it to the blocks
it drives and :class:`SbqTop` puts a :class:`~hw.link.HostLink` in front: both are
wiring only. :class:`BoardTop` puts :class:`SbqTop` on an amaranth-boards platform.
"""

from __future__ import annotations

from amaranth.build import ResourceError
from amaranth.hdl import C, Cat, Elaboratable, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, fifo, io, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from spec import (
    REQUESTS,
    RESPONSES,
    DatapathSpec,
    LinkSpec,
    Mode,
    Opcode,
    PackingSpec,
    Status,
    StatusFlag,
    StoreFlag,
)
from spec import fingerprint as contract_fingerprint
from spec.protocol import IDENTIFY_MAGIC, PayloadLayout, code_bytes, result_bytes

from ._params import checked
from .link import COMMAND_LAYOUT, RESPONSE_LAYOUT, HostLink
from .store import BinarizeAndStore
from .xnor_acc import ALL_MODES, XnorAccumulator, beat_layout

__all__ = ["ACC_BITS", "BoardTop", "CommandHandler", "Heartbeat", "SbqCore", "SbqTop", "silence"]

#: Accumulator width of the top's datapath: results travel as 4-byte integers.
ACC_BITS = 32
#: LEDs :class:`SbqTop` drives: heartbeat, busy, sticky error, last command OK.
LED_COUNT = 4


def silence(blocks: list[Elaboratable]) -> None:
    """Mark ``blocks`` and every block they hold as deliberately unused: a constructor
    refused after building them (see :func:`hw._params.checked`)."""
    stack, seen = list(blocks), set()
    while stack:
        block = stack.pop()
        if id(block) not in seen:
            seen.add(id(block))
            block._MustUse__silence = True  # type: ignore[attr-defined]
            stack += [v for v in vars(block).values() if isinstance(v, Elaboratable)]


def _pack(layout: PayloadLayout, values: dict[str, Value | int]) -> Value:
    """The payload bits of ``layout`` (fields in order, little-endian), each value
    zero-extended or truncated to its field."""
    parts = []
    for name, size in layout.fields:
        parts.append(Cat(Value.cast(values[name]), C(0, 8 * size))[: 8 * size])
    return Cat(*parts)


def _store_beat(lanes: int, act_bits: int) -> data.StructLayout:
    """The payload of :class:`~hw.store.BinarizeAndStore`'s ``i`` stream."""
    return data.StructLayout(
        {"codes": data.ArrayLayout(unsigned(act_bits), lanes), "last": unsigned(1)}
    )


class CommandHandler(wiring.Component):
    """Executes the validated request frames of a :class:`~hw.link.HostLink` and answers
    each exactly once (the semantics of every opcode: ``docs/protocol.md`` section 5).

    A frame's fixed fields are collected first; then its length and fields are checked
    and, if they are good, the command runs while its tail (codes or words) streams in.
    A refused frame's remaining bytes are drained and answered ``BAD_LENGTH`` or
    ``BAD_ARGUMENT`` with nothing changed. Every state leaves on a payload byte, on a
    response byte taken, or within a bounded number of cycles (a seed load: ``lanes``
    cycles; a dot product: its beats plus the datapath latency), so a frame is always
    answered.

    Throughput: ``STORE_CODES`` takes ``lanes * code_bytes + 1`` cycles per beat of
    ``lanes`` codes, ``LOAD_WEIGHTS`` one cycle per byte, ``RUN_DOT`` up to two cycles
    per beat: all well within the UART's byte time, which bounds every command.

    Parameters
    ----------
    word_bits, depth : int
        The store path's SRAM (:class:`~hw.store.BinarizeAndStore`); its lanes and code
        width are the datapath's.
    weight_depth : int
        Words of the weight buffer.
    result_depth : int
        Entries of the result FIFO.
    datapath : DatapathSpec
        The datapath's spec: its ``lanes`` and ``act_bits`` are the whole top's, its
        ``acc_bits`` sets the result width.
    link : LinkSpec
        The link's spec (``max_payload`` and ``protocol_version`` are reported).

    Attributes
    ----------
    cmd : In(stream.Signature(COMMAND_LAYOUT))
        Validated request frames (:class:`~hw.link.HostLink`'s ``cmd``).
    rsp : Out(stream.Signature(RESPONSE_LAYOUT))
        One response per frame.
    link_errors : In(16)
        The link's refused-frame counter; ``clear_link_errors`` (Out(1)) zeroes it.
    codes : Out(stream.Signature(StructLayout({"codes": ..., "last": ...})))
        Code beats to the store path.
    seed, load : Out(32), Out(1)
        Seed and load pulse to the store path's LFSR bank; ``loading`` (In(1)) its busy.
    clear, count, overflow, rd_addr, rd_data :
        The activation SRAM's ports of the same names (``clear``, ``rd_addr`` outputs).
    weight_wr, weight_rd : In(WritePort.Signature), In(ReadPort.Signature)
        The weight buffer's ports (driven by this handler).
    dot : Out(stream.Signature(beat_layout(datapath)))
        Beats to the datapath; ``mode`` (Out(2)) with them.
    sums : In(stream.Signature(signed(acc_bits)))
        The datapath's sums; always taken.
    push, pop : Out(stream.Signature(acc_bits)), In(stream.Signature(acc_bits))
        The result FIFO's write and read sides; ``pending`` (In) its level. A sum that
        finds the FIFO full is dropped and sets the sticky ``RESULT_OVERFLOW``.
    busy : Out(1)
        A command is being handled.
    error : Out(1)
        Any sticky :class:`spec.StatusFlag` is set.
    last_ok : Out(1)
        The last frame was answered ``OK`` (a link-layer refusal clears it).

    Raises
    ------
    TypeError, ValueError
        A spec of the wrong type, parameters the store path would refuse, a
        ``datapath`` with other lanes or code width, or a ``max_payload`` too small to
        carry one beat of codes.
    """

    def __init__(
        self,
        *,
        word_bits: int,
        depth: int,
        weight_depth: int,
        result_depth: int,
        datapath: DatapathSpec,
        link: LinkSpec,
    ):
        with checked(self):
            if not isinstance(datapath, DatapathSpec):
                raise TypeError(f"datapath must be a DatapathSpec, not {datapath!r}")
            if not isinstance(link, LinkSpec):
                raise TypeError(f"link must be a LinkSpec, not {link!r}")
            lanes, act_bits = datapath.lanes, datapath.act_bits
            PackingSpec(word_bits=word_bits, depth=depth).beats_per_word(lanes)
            for name, value in (("weight_depth", weight_depth), ("result_depth", result_depth)):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{name} must be an integer, not {value!r}")
                if value < 1:
                    raise ValueError(f"{name} must be at least 1, not {value}")
            cb = code_bytes(act_bits)
            need = REQUESTS[Opcode.STORE_CODES].fixed_bytes + lanes * cb
            if link.max_payload < need:
                raise ValueError(
                    f"max_payload must hold one beat of {lanes} codes ({need} bytes), "
                    f"not {link.max_payload}"
                )
        self.lanes, self.act_bits, self.word_bits = lanes, act_bits, word_bits
        self.depth, self.weight_depth, self.result_depth = depth, weight_depth, result_depth
        self.datapath, self.link = datapath, link
        self.code_bytes = cb
        acc_bits = datapath.acc_bits
        super().__init__(
            {
                "cmd": In(stream.Signature(COMMAND_LAYOUT)),
                "rsp": Out(stream.Signature(RESPONSE_LAYOUT)),
                "link_errors": In(16),
                "clear_link_errors": Out(1),
                "codes": Out(stream.Signature(_store_beat(lanes, act_bits))),
                "seed": Out(32),
                "load": Out(1),
                "loading": In(1),
                "clear": Out(1),
                "count": In(range(depth + 1)),
                "overflow": In(1),
                "rd_addr": Out(range(depth)),
                "rd_data": In(word_bits),
                "weight_wr": In(
                    memory.WritePort.Signature(
                        addr_width=ceil_log2(weight_depth), shape=unsigned(word_bits)
                    )
                ),
                "weight_rd": In(
                    memory.ReadPort.Signature(
                        addr_width=ceil_log2(weight_depth), shape=unsigned(word_bits)
                    )
                ),
                "dot": Out(stream.Signature(beat_layout(datapath))),
                "mode": Out(2),
                "sums": In(stream.Signature(signed(acc_bits))),
                "push": Out(stream.Signature(acc_bits)),
                "pop": In(stream.Signature(acc_bits)),
                "pending": In(range(result_depth + 1)),
                "busy": Out(1),
                "error": Out(1),
                "last_ok": Out(1),
            }
        )

    def identify_payload(self) -> bytes:
        """The IDENTIFY response payload this handler sends."""
        return RESPONSES[Opcode.IDENTIFY].pack(
            {
                "magic": IDENTIFY_MAGIC,
                "protocol": self.link.protocol_version,
                "lanes": self.lanes,
                "act_bits": self.act_bits,
                "word_bits": self.word_bits,
                "depth": self.depth,
                "weight_depth": self.weight_depth,
                "acc_bits": self.datapath.acc_bits,
                "result_depth": self.result_depth,
                "fingerprint": int(contract_fingerprint(), 16),
                "max_payload": self.link.max_payload,
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        lanes, act_bits, word_bits = self.lanes, self.act_bits, self.word_bits
        cb, wbytes = self.code_bytes, word_bits // 8
        rbytes = result_bytes(self.datapath.acc_bits)
        bpw = word_bits // lanes  # beats per word
        max_payload = self.link.max_payload
        fixed_req = max(layout.fixed_bytes for layout in REQUESTS.values())
        fixed_rsp = max(layout.fixed_bytes for layout in RESPONSES.values())

        cmd, rsp, beat = self.cmd, self.rsp, self.cmd.payload

        # --- request framing -------------------------------------------------------
        opcode = Signal(8)
        length = Signal(16)
        fields = Signal(8 * fixed_req)  # the fixed fields, payload byte k in bits 8k..
        idx = Signal(range(fixed_req + 1))
        rx_done = Signal()  # the frame's last beat has been taken
        with m.If(cmd.valid & cmd.ready & beat.last):
            m.d.sync += rx_done.eq(1)

        def field(op: Opcode, name: str) -> Value:
            layout = REQUESTS[op]
            at, size = layout.offset(name), dict(layout.fields)[name]
            return fields[8 * at : 8 * (at + size)]

        fixed = Signal(range(fixed_req + 1))  # fixed bytes of this opcode
        with m.Switch(opcode):
            for op in Opcode:
                with m.Case(int(op)):
                    m.d.comb += fixed.eq(REQUESTS[op].fixed_bytes)
        tail = Signal(16)  # tail bytes
        m.d.comb += tail.eq(length - fixed)

        # --- response --------------------------------------------------------------
        status = Signal(8)
        rsp_len = Signal(16)
        rsp_fixed = Signal(8 * fixed_rsp)
        ridx = Signal(16)  # byte of a fixed response
        sub = Signal(range(max(wbytes, rbytes, 2)))  # byte within a word or result
        items = Signal(16)  # words or results still to send
        m.d.comb += [
            rsp.payload.status.eq(status),
            rsp.payload.opcode.eq(opcode),
            rsp.payload.length.eq(rsp_len),
        ]

        # --- sticky flags, LEDs ----------------------------------------------------
        sram_ovf, seed_err, result_ovf = Signal(), Signal(), Signal()
        link_error = Signal()
        m.d.comb += [
            link_error.eq(self.link_errors != 0),
            self.error.eq(sram_ovf | seed_err | result_ovf | link_error),
        ]
        seen_errors = Signal(16)
        m.d.sync += seen_errors.eq(self.link_errors)
        with m.If(self.link_errors > seen_errors):  # a frame was refused by the link
            m.d.sync += self.last_ok.eq(0)

        # --- store, weights, datapath state ------------------------------------------
        codes_reg = Signal(data.ArrayLayout(unsigned(act_bits), lanes))
        lane = Signal(range(max(lanes, 2)))
        hi = Signal()  # the low byte of a two-byte code is in code_lo
        code_lo = Signal(8)
        final = Signal()  # the gathered beat ends the frame
        word_reg = Signal(word_bits)
        w_ptr = Signal(range(self.weight_depth + 1))
        a_ptr = Signal(range(self.depth + 1))
        max_elements = self.weight_depth * word_bits
        left = Signal(range(max_elements + 1))  # dot-product elements not yet issued
        slot = Signal(range(max(bpw, 2)))  # beat within the current words
        first = Signal()
        dropped = Signal()  # this dot product's sum found the FIFO full
        settle = Signal(2)
        m.d.comb += [
            self.rd_addr.eq(a_ptr),
            self.weight_rd.addr.eq(w_ptr),
            self.weight_wr.addr.eq(w_ptr),
            self.weight_wr.data.eq(Cat(word_reg[: word_bits - 8], beat.data)),
            self.seed.eq(field(Opcode.SET_SEED, "seed")),
            self.mode.eq(field(Opcode.RUN_DOT, "mode")[:2]),
            self.codes.payload.codes.eq(codes_reg),
        ]

        # Sums go straight into the FIFO; one that finds it full is dropped and flagged.
        m.d.comb += [
            self.push.valid.eq(self.sums.valid),
            self.push.payload.eq(self.sums.payload),
            self.sums.ready.eq(1),
        ]
        with m.If(self.sums.valid & ~self.push.ready):
            m.d.sync += [result_ovf.eq(1), dropped.eq(1)]

        # The beat offered to the datapath.
        is_code = Signal()
        m.d.comb += is_code.eq(self.mode == Mode.CODE.value)
        if bpw == 1:
            w_bits, a_bits = self.weight_rd.data, self.rd_data
        else:
            w_bits = self.weight_rd.data.word_select(slot, lanes)
            a_bits = self.rd_data.word_select(slot, lanes)
        a_from_sram = Cat(Cat(a_bits[j], C(0, act_bits - 1)) for j in range(lanes))
        is_last = Signal()
        m.d.comb += [
            is_last.eq(left <= lanes),
            self.dot.payload.w.eq(w_bits),
            self.dot.payload.a.eq(Mux(is_code, codes_reg.as_value(), a_from_sram)),
            self.dot.payload.valid.eq(Cat(left > j for j in range(lanes))),
            self.dot.payload.first.eq(first),
            self.dot.payload.last.eq(is_last),
        ]

        def answer(code: Status, nbytes: int | Value = 0, payload: Value | None = None) -> None:
            m.d.sync += [status.eq(code), rsp_len.eq(nbytes)]
            if payload is not None:
                m.d.sync += rsp_fixed.eq(payload)
            m.next = "SEND_FIXED"

        def refuse(code: Status) -> None:
            """Drain what is left of the frame, then answer ``code``."""
            m.d.sync += [status.eq(code), rsp_len.eq(0)]
            m.next = "DRAIN"

        def finish() -> None:
            m.d.sync += self.last_ok.eq(status == Status.OK)
            m.next = "IDLE"

        def gather(done: str) -> None:
            """Collect one beat of codes from the tail; then go to ``done``."""
            m.d.comb += cmd.ready.eq(1)
            with m.If(cmd.valid):
                if cb == 1:
                    m.d.sync += codes_reg[lane].eq(beat.data[:act_bits])
                    code_done = C(1, 1)
                else:
                    code_done = hi
                    with m.If(~hi):
                        m.d.sync += [code_lo.eq(beat.data), hi.eq(1)]
                    with m.Else():
                        m.d.sync += [
                            codes_reg[lane].eq(Cat(code_lo, beat.data)[:act_bits]),
                            hi.eq(0),
                        ]
                with m.If(code_done):
                    m.d.sync += lane.eq(lane + 1)
                    with m.If((lane == lanes - 1) | beat.last):
                        m.d.sync += [lane.eq(0), final.eq(beat.last)]
                        m.next = done

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.sync += [ridx.eq(0), sub.eq(0), settle.eq(0), lane.eq(0), hi.eq(0)]
                with m.If(cmd.valid):
                    m.d.sync += [
                        opcode.eq(beat.opcode),
                        length.eq(beat.length),
                        idx.eq(0),
                        rx_done.eq(0),
                    ]
                    m.next = "DECODE"

            with m.State("DECODE"):
                bad_length = Signal()
                with m.Switch(opcode):
                    with m.Case(int(Opcode.STORE_CODES)):
                        m.d.comb += bad_length.eq((tail & (lanes * cb - 1)) != 0)
                    with m.Case(int(Opcode.LOAD_WEIGHTS)):
                        m.d.comb += bad_length.eq((tail & (wbytes - 1)) != 0)
                with m.If(bad_length):
                    refuse(Status.BAD_LENGTH)
                with m.Elif(fixed == 0):
                    m.d.comb += cmd.ready.eq(1)  # the one empty beat of the frame
                    with m.If(cmd.valid):
                        m.next = "EXEC"
                with m.Else():
                    m.next = "FIELDS"

            with m.State("FIELDS"):
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    m.d.sync += [fields.word_select(idx, 8).eq(beat.data), idx.eq(idx + 1)]
                    with m.If(idx == fixed - 1):
                        m.next = "EXEC"

            with m.State("EXEC"):
                with m.Switch(opcode):
                    with m.Case(int(Opcode.IDENTIFY)):
                        ident = int.from_bytes(self.identify_payload(), "little")
                        answer(Status.OK, RESPONSES[Opcode.IDENTIFY].fixed_bytes, C(ident))

                    with m.Case(int(Opcode.SET_SEED)):
                        with m.If(self.seed == 0):
                            m.d.sync += seed_err.eq(1)
                            answer(Status.BAD_ARGUMENT)
                        with m.Else():
                            m.d.comb += self.load.eq(1)
                            m.next = "WAIT_LOAD"

                    with m.Case(int(Opcode.STORE_CODES)):
                        flags = field(Opcode.STORE_CODES, "flags")
                        m.d.comb += self.clear.eq((flags & StoreFlag.CLEAR) != 0)
                        with m.If(rx_done):
                            m.next = "STORE_SETTLE"
                        with m.Else():
                            m.next = "STORE_GATHER"

                    with m.Case(int(Opcode.READ_WORDS)):
                        addr, n = field(Opcode.READ_WORDS, "addr"), field(Opcode.READ_WORDS, "n")
                        with m.If((addr + n > self.count) | (n > max_payload // wbytes)):
                            answer(Status.BAD_ARGUMENT)
                        with m.Elif(n == 0):
                            answer(Status.OK)
                        with m.Else():
                            m.d.sync += [
                                a_ptr.eq(addr),
                                items.eq(n),
                                status.eq(Status.OK),
                                rsp_len.eq(n * wbytes),
                            ]
                            m.next = "FETCH_WORD"

                    with m.Case(int(Opcode.LOAD_WEIGHTS)):
                        addr = field(Opcode.LOAD_WEIGHTS, "addr")
                        with m.If(addr + (tail >> exact_log2(wbytes)) > self.weight_depth):
                            refuse(Status.BAD_ARGUMENT)
                        with m.Elif(rx_done):
                            answer(Status.OK)
                        with m.Else():
                            m.d.sync += w_ptr.eq(addr)
                            m.next = "LOAD"

                    with m.Case(int(Opcode.RUN_DOT)):
                        w_addr = field(Opcode.RUN_DOT, "w_addr")
                        a_addr = field(Opcode.RUN_DOT, "a_addr")
                        n = field(Opcode.RUN_DOT, "n")
                        n_words = (n + word_bits - 1) >> exact_log2(word_bits)
                        mode = field(Opcode.RUN_DOT, "mode")
                        with m.If(~Cat(mode == built.value for built in ALL_MODES).any()):
                            refuse(Status.BAD_ARGUMENT)
                        with m.Elif(Mux(is_code, tail != n * cb, tail != 0)):
                            refuse(Status.BAD_LENGTH)
                        with m.Elif(
                            (n == 0)
                            | (w_addr + n_words > self.weight_depth)
                            | (~is_code & (a_addr + n_words > self.count))
                        ):
                            refuse(Status.BAD_ARGUMENT)
                        with m.Else():
                            m.d.sync += [
                                w_ptr.eq(w_addr),
                                a_ptr.eq(a_addr),
                                left.eq(n),
                                slot.eq(0),
                                first.eq(1),
                                dropped.eq(0),
                            ]
                            m.next = "DOT_START"

                    with m.Case(int(Opcode.READ_RESULTS)):
                        n = field(Opcode.READ_RESULTS, "n")
                        k1 = Mux(n < self.pending, n, self.pending)
                        cap = max_payload // rbytes
                        k = Mux(k1 < cap, k1, cap)
                        m.d.sync += [items.eq(k), status.eq(Status.OK), rsp_len.eq(k * rbytes)]
                        with m.If(k == 0):
                            m.next = "SEND_FIXED"
                        with m.Else():
                            m.next = "SEND_RESULTS"

                    with m.Case(int(Opcode.READ_STATUS)):
                        flags = Signal(16)
                        for flag, value in (
                            (StatusFlag.SRAM_OVERFLOW, sram_ovf),
                            (StatusFlag.SEED_ERROR, seed_err),
                            (StatusFlag.RESULT_OVERFLOW, result_ovf),
                            (StatusFlag.LINK_ERROR, link_error),
                        ):
                            m.d.comb += flags[exact_log2(flag.value)].eq(value)
                        layout = RESPONSES[Opcode.READ_STATUS]
                        values = {
                            "flags": flags,
                            "count": self.count,
                            "pending": self.pending,
                            "errors": self.link_errors,
                        }
                        answer(Status.OK, layout.fixed_bytes, _pack(layout, values))

                    with m.Case(int(Opcode.CLEAR_STATUS)):
                        m.d.comb += self.clear_link_errors.eq(1)
                        m.d.sync += [sram_ovf.eq(0), seed_err.eq(0), result_ovf.eq(0)]
                        answer(Status.OK)

                    with m.Default():  # the link delivers only the opcodes above
                        refuse(Status.UNKNOWN_OPCODE)

            with m.State("DRAIN"):
                m.d.comb += cmd.ready.eq(~rx_done)
                with m.If(rx_done):
                    m.next = "SEND_FIXED"

            # --- SET_SEED: the bank's busy rises the cycle after `load`.
            with m.State("WAIT_LOAD"):
                with m.If(~self.loading):
                    answer(Status.OK)

            # --- STORE_CODES
            with m.State("STORE_GATHER"):
                gather("STORE_PUSH")
            with m.State("STORE_PUSH"):
                flags = field(Opcode.STORE_CODES, "flags")
                m.d.comb += [
                    self.codes.valid.eq(1),
                    self.codes.payload.last.eq(final & ((flags & StoreFlag.LAST) != 0)),
                ]
                with m.If(self.codes.ready):
                    with m.If(final):
                        m.next = "STORE_SETTLE"
                    with m.Else():
                        m.next = "STORE_GATHER"
            with m.State("STORE_SETTLE"):
                # A beat reaches the SRAM a cycle after the binarizer takes it; `count`
                # and `overflow` show its word one cycle later.
                m.d.sync += settle.eq(settle + 1)
                with m.If(settle == 3):
                    with m.If(self.overflow):
                        m.d.sync += sram_ovf.eq(1)
                        answer(Status.OVERFLOW)
                    with m.Else():
                        layout = RESPONSES[Opcode.STORE_CODES]
                        answer(Status.OK, layout.fixed_bytes, _pack(layout, {"count": self.count}))

            # --- LOAD_WEIGHTS: a word is written as its last byte arrives.
            with m.State("LOAD"):
                m.d.comb += cmd.ready.eq(1)
                with m.If(cmd.valid):
                    m.d.sync += [word_reg.word_select(sub, 8).eq(beat.data), sub.eq(sub + 1)]
                    with m.If(sub == wbytes - 1):
                        m.d.comb += self.weight_wr.en.eq(1)
                        m.d.sync += [w_ptr.eq(w_ptr + 1), sub.eq(0)]
                    with m.If(beat.last):
                        answer(Status.OK)

            # --- RUN_DOT. Both memories read the word at their pointer every cycle, so
            # data is ready one cycle after a pointer moves: DOT_START and DOT_NEXT_WORD
            # are that cycle in bit modes; in code mode gathering the next beat takes it.
            with m.State("DOT_START"):
                with m.If(is_code):
                    m.next = "DOT_GATHER"
                with m.Else():
                    m.next = "DOT_ISSUE"
            with m.State("DOT_GATHER"):
                gather("DOT_ISSUE")
            with m.State("DOT_ISSUE"):
                m.d.comb += self.dot.valid.eq(1)
                with m.If(self.dot.ready):
                    m.d.sync += [first.eq(0), left.eq(left - lanes)]
                    with m.If(is_last):
                        m.next = "DOT_WAIT"
                    with m.Else():
                        with m.If(slot == bpw - 1):
                            m.d.sync += [slot.eq(0), w_ptr.eq(w_ptr + 1), a_ptr.eq(a_ptr + 1)]
                            m.next = "DOT_NEXT_WORD"
                        with m.Else():
                            m.d.sync += slot.eq(slot + 1)
                            with m.If(is_code):
                                m.next = "DOT_GATHER"
            with m.State("DOT_NEXT_WORD"):
                with m.If(is_code):
                    gather("DOT_ISSUE")
                with m.Else():
                    m.next = "DOT_ISSUE"
            with m.State("DOT_WAIT"):
                with m.If(self.sums.valid):
                    m.next = "DOT_SETTLE"
            with m.State("DOT_SETTLE"):
                # The FIFO's level counts the sum two cycles after it is pushed.
                m.d.sync += settle.eq(settle + 1)
                with m.If(settle == 1):
                    with m.If(dropped):
                        answer(Status.OVERFLOW)
                    with m.Else():
                        layout = RESPONSES[Opcode.RUN_DOT]
                        answer(
                            Status.OK, layout.fixed_bytes, _pack(layout, {"pending": self.pending})
                        )

            # --- responses
            with m.State("SEND_FIXED"):
                m.d.comb += [
                    rsp.valid.eq(1),
                    rsp.payload.data.eq(rsp_fixed.word_select(ridx[: ceil_log2(fixed_rsp)], 8)),
                ]
                with m.If(rsp.ready):
                    m.d.sync += ridx.eq(ridx + 1)
                    with m.If((rsp_len == 0) | (ridx == rsp_len - 1)):
                        finish()
            with m.State("FETCH_WORD"):
                m.next = "SEND_WORDS"
            with m.State("SEND_WORDS"):
                m.d.comb += [rsp.valid.eq(1), rsp.payload.data.eq(self.rd_data.word_select(sub, 8))]
                with m.If(rsp.ready):
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == wbytes - 1):
                        m.d.sync += [sub.eq(0), a_ptr.eq(a_ptr + 1), items.eq(items - 1)]
                        with m.If(items == 1):
                            finish()
                        with m.Else():
                            m.next = "FETCH_WORD"
            with m.State("SEND_RESULTS"):
                m.d.comb += [
                    rsp.valid.eq(self.pop.valid),
                    rsp.payload.data.eq(self.pop.payload.word_select(sub, 8)),
                ]
                with m.If(rsp.valid & rsp.ready):
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == rbytes - 1):
                        m.d.comb += self.pop.ready.eq(1)
                        m.d.sync += [sub.eq(0), items.eq(items - 1)]
                        with m.If(items == 1):
                            finish()

        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m


class Heartbeat(wiring.Component):
    """A square wave of about 0.7 to 1.4 s period on ``o``: the bitstream is alive.

    Parameters
    ----------
    clk_hz : int
        Clock frequency; the counter has ``clk_hz.bit_length()`` bits and ``o`` is its
        top bit.

    Attributes
    ----------
    o : Out(1)
        The wave.
    """

    def __init__(self, *, clk_hz: int):
        with checked(self):
            if isinstance(clk_hz, bool) or not isinstance(clk_hz, int) or clk_hz < 1:
                raise ValueError(f"clk_hz must be a positive integer, not {clk_hz!r}")
        self.clk_hz = clk_hz
        super().__init__({"o": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        counter = Signal(max(1, self.clk_hz.bit_length()))
        m.d.sync += counter.eq(counter + 1)
        m.d.comb += self.o.eq(counter[-1])
        return m


class SbqCore(wiring.Component):
    """Everything behind the link: a :class:`CommandHandler` driving a
    :class:`~hw.store.BinarizeAndStore`, a weight buffer (``depth`` words of
    ``word_bits``, one block RAM at the defaults), an
    :class:`~hw.xnor_acc.XnorAccumulator` (all modes, ``ACC_BITS``-bit sums) and a
    result FIFO (``amaranth.lib.fifo.SyncFIFOBuffered`` of ``result_depth`` sums).
    Wiring only. Its ``cmd``/``rsp`` side is a :class:`~hw.link.HostLink`'s.

    Parameters
    ----------
    lanes, act_bits, word_bits, depth, seed : int
        As :class:`~hw.store.BinarizeAndStore`; the weight buffer has ``depth`` words
        too. ``seed`` is the LFSR bank's reset state.
    link : LinkSpec, optional
        The link's spec (``max_payload``, ``protocol_version``; default spec if omitted).
    result_depth : int
        Entries of the result FIFO.

    Attributes
    ----------
    cmd, rsp, link_errors, clear_link_errors, busy, error, last_ok :
        The :class:`CommandHandler`'s ports of the same names.
    handler, store, datapath :
        The blocks (not ports).

    Raises
    ------
    TypeError, ValueError
        Parameters that a block refuses (lanes not dividing ``word_bits``, a zero seed,
        a ``max_payload`` too small for one beat, ...).
    """

    def __init__(
        self,
        *,
        lanes: int = 32,
        act_bits: int = 8,
        word_bits: int = 32,
        depth: int = 1024,
        seed: int = 1,
        link: LinkSpec | None = None,
        result_depth: int = 32,
    ):
        made: list[Elaboratable] = []
        try:
            with checked(self):
                link = LinkSpec() if link is None else link
                if not isinstance(link, LinkSpec):
                    raise TypeError(f"link must be a LinkSpec, not {link!r}")
                self.store = BinarizeAndStore(
                    lanes=lanes, act_bits=act_bits, seed=seed, word_bits=word_bits, depth=depth
                )
                made.append(self.store)
                # The longest dot product: every weight word in the bit modes, the
                # longest request's codes in code mode.
                cb = code_bytes(act_bits)
                max_codes = (link.max_payload - REQUESTS[Opcode.RUN_DOT].fixed_bytes) // cb
                max_beats = max(-(-depth * word_bits // lanes), -(-max_codes // lanes), 1)
                spec = DatapathSpec(
                    lanes=lanes, act_bits=act_bits, acc_bits=ACC_BITS, max_beats=max_beats
                )
                self.datapath = XnorAccumulator(spec, modes=ALL_MODES)
                made.append(self.datapath)
                self.handler = CommandHandler(
                    word_bits=word_bits,
                    depth=depth,
                    weight_depth=depth,
                    result_depth=result_depth,
                    datapath=spec,
                    link=link,
                )
        except (TypeError, ValueError):
            silence(made)
            raise
        members = self.handler.signature.members
        super().__init__(
            {
                name: members[name]
                for name in (
                    "cmd",
                    "rsp",
                    "link_errors",
                    "clear_link_errors",
                    "busy",
                    "error",
                    "last_ok",
                )
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.handler = handler = self.handler
        m.submodules.store = store = self.store
        m.submodules.datapath = datapath = self.datapath
        m.submodules.weights = weights = memory.Memory(
            shape=unsigned(handler.word_bits), depth=handler.weight_depth, init=[]
        )
        m.submodules.results = results = fifo.SyncFIFOBuffered(
            width=handler.datapath.acc_bits, depth=handler.result_depth
        )

        wiring.connect(m, wiring.flipped(self.cmd), handler.cmd)
        wiring.connect(m, handler.rsp, wiring.flipped(self.rsp))
        m.d.comb += [
            handler.link_errors.eq(self.link_errors),
            self.clear_link_errors.eq(handler.clear_link_errors),
            self.busy.eq(handler.busy),
            self.error.eq(handler.error),
            self.last_ok.eq(handler.last_ok),
        ]

        wiring.connect(m, handler.codes, store.i)
        m.d.comb += [
            store.seed.eq(handler.seed),
            store.load.eq(handler.load),
            handler.loading.eq(store.loading),
            store.clear.eq(handler.clear),
            handler.count.eq(store.count),
            handler.overflow.eq(store.overflow),
            store.rd_addr.eq(handler.rd_addr),
            handler.rd_data.eq(store.rd_data),
        ]

        wiring.connect(m, handler.weight_wr, weights.write_port())
        wiring.connect(m, handler.weight_rd, weights.read_port())

        wiring.connect(m, handler.dot, datapath.i)
        m.d.comb += datapath.mode.eq(handler.mode)
        wiring.connect(m, datapath.o, handler.sums)
        wiring.connect(m, handler.push, results.w_stream)
        wiring.connect(m, results.r_stream, handler.pop)
        m.d.comb += handler.pending.eq(results.level)
        return m


class SbqTop(wiring.Component):
    """The whole design behind a UART: :class:`~hw.link.HostLink` -> :class:`SbqCore`
    (the command handler and the blocks it drives), plus a :class:`Heartbeat`. Wiring
    only. ``docs/protocol.md`` gives the commands.

    Parameters
    ----------
    lanes, act_bits, word_bits, depth, seed : int
        As :class:`SbqCore`.
    clk_hz : int
        Clock frequency (UART timing, link timeout, heartbeat).
    link : LinkSpec, optional
        Frame format and baud (the default spec if omitted).
    timeout_cycles : int, optional
        Overrides the link's quiet-line timeout in cycles (for simulation).
    result_depth : int
        Entries of the result FIFO (default 32).

    Attributes
    ----------
    rx : In(1, init=1)
        Serial line from the host.
    tx : Out(1, init=1)
        Serial line to the host.
    leds : Out(4)
        0: heartbeat; 1: a command is being handled; 2: a sticky error
        (:class:`spec.StatusFlag`: SRAM or result overflow, zero seed, a link error);
        3: the last frame was answered OK.
    link, core, heartbeat :
        The blocks (not ports).

    Raises
    ------
    TypeError, ValueError
        Parameters that a block refuses (a baud ``clk_hz`` cannot make, lanes not
        dividing ``word_bits``, a zero seed, ...).
    """

    def __init__(
        self,
        *,
        lanes: int = 32,
        act_bits: int = 8,
        word_bits: int = 32,
        depth: int = 1024,
        seed: int = 1,
        clk_hz: int = 100_000_000,
        link: LinkSpec | None = None,
        timeout_cycles: int | None = None,
        result_depth: int = 32,
    ):
        made: list[Elaboratable] = []
        try:
            with checked(self):
                self.link = HostLink(link, clk_hz=clk_hz, timeout_cycles=timeout_cycles)
                made.append(self.link)
                self.heartbeat = Heartbeat(clk_hz=clk_hz)
                made.append(self.heartbeat)
                self.core = SbqCore(
                    lanes=lanes,
                    act_bits=act_bits,
                    word_bits=word_bits,
                    depth=depth,
                    seed=seed,
                    link=self.link.spec,
                    result_depth=result_depth,
                )
        except (TypeError, ValueError):
            silence(made)
            raise
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(LED_COUNT)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.core = core = self.core
        m.submodules.heartbeat = heartbeat = self.heartbeat
        m.d.comb += [link.rx.eq(self.rx), self.tx.eq(link.tx)]
        wiring.connect(m, link.cmd, core.cmd)
        wiring.connect(m, core.rsp, link.rsp)
        m.d.comb += [
            core.link_errors.eq(link.errors),
            link.clear_errors.eq(core.clear_link_errors),
            self.leds.eq(Cat(heartbeat.o, core.busy, core.error, core.last_ok)),
        ]
        return m


class BoardTop(Elaboratable):
    """:class:`SbqTop` on an amaranth-boards platform: its default clock, ``uart`` 0
    (``rx`` in, ``tx`` out) and up to four of its ``led`` resources (fewer if the board
    has fewer; :attr:`SbqTop.leds` in order), through ``amaranth.lib.io`` buffers.

    Parameters
    ----------
    lanes : int
        Datapath and binarizer lanes (the other parameters are :class:`SbqTop`'s
        defaults).
    clk_hz : int
        The board's default clock (``platform.default_clk_frequency``).
    baud : int
        Line rate of the link.

    Raises
    ------
    TypeError, ValueError
        Parameters :class:`SbqTop` refuses; checked here, before any build step.
    """

    def __init__(self, *, lanes: int, clk_hz: int, baud: int = 115_200):
        with checked(self):
            self.lanes = lanes
            self.top = SbqTop(lanes=lanes, clk_hz=clk_hz, link=LinkSpec(baud=baud))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.top = top = self.top
        # Raw ports (`dir="-"`) and explicit buffers: amaranth 0.5 deprecates requesting
        # resources with implicit buffers. The ports carry the board's pin inversion.
        uart = platform.request("uart", 0, dir="-")  # type: ignore[attr-defined]
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for i in range(LED_COUNT):
            try:
                pin = platform.request("led", i, dir="-")  # type: ignore[attr-defined]
            except ResourceError:
                break  # the board has fewer LEDs
            m.submodules[f"led{i}"] = led = io.Buffer("o", pin)
            m.d.comb += led.o.eq(top.leds[i])
        return m

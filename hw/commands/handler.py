"""The command dispatcher: one frame at a time to the component of its opcode."""

from __future__ import annotations

from collections import defaultdict

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from spec import REQUESTS, DeviceSpec, Opcode, Status, StatusFlag

from ..link import COMMAND_LAYOUT, RESPONSE_LAYOUT
from ..xnor_acc import beat_layout
from .base import ANSWER_LAYOUT, Command
from .clear_status import ClearStatus
from .gather import code_beat
from .identify import Identify
from .load_image import LoadImage
from .load_weights import LoadWeights
from .read_layer import ReadLayer
from .read_logits import ReadLogits
from .read_results import ReadResults
from .read_status import ReadStatus
from .read_words import ReadWords
from .run_dot import RunDot
from .run_to import RunTo
from .set_seed import SetSeed
from .store_codes import StoreCodes

__all__ = ["COMMANDS", "ENGINE_COMMANDS", "CommandHandler"]

#: The component of each opcode.
COMMANDS: dict[Opcode, type[Command]] = {
    Opcode.IDENTIFY: Identify,
    Opcode.SET_SEED: SetSeed,
    Opcode.STORE_CODES: StoreCodes,
    Opcode.READ_WORDS: ReadWords,
    Opcode.LOAD_WEIGHTS: LoadWeights,
    Opcode.RUN_DOT: RunDot,
    Opcode.READ_RESULTS: ReadResults,
    Opcode.READ_STATUS: ReadStatus,
    Opcode.CLEAR_STATUS: ClearStatus,
    Opcode.LOAD_IMAGE: LoadImage,
    Opcode.READ_LOGITS: ReadLogits,
    Opcode.RUN_TO: RunTo,
    Opcode.READ_LAYER: ReadLayer,
}
#: The commands only a device with an inference engine has (others answer
#: UNKNOWN_OPCODE to them).
ENGINE_COMMANDS = (Opcode.LOAD_IMAGE, Opcode.READ_LOGITS, Opcode.RUN_TO, Opcode.READ_LAYER)
#: Ports of a command that the dispatcher itself serves (the sticky flags).
_FLAG_PORTS = ("raise_flag", "flags", "clear_flags")


class CommandHandler(wiring.Component):
    """Executes the validated request frames of a :class:`~hw.link.HostLink` and answers
    each exactly once (``docs/protocol.md`` section 5 gives every command's semantics).

    The dispatcher collects a frame's fixed fields, starts the command component of its
    opcode (:data:`COMMANDS`, one file each in :mod:`hw.commands`), hands it the rest
    of the frame and passes its answer on, draining whatever the command left of the
    frame first. A command's port named like one of the ports below is that port
    (inputs fan out; an output two commands drive follows the running command);
    ``raise_flag``, ``flags`` and ``clear_flags`` are the sticky flags kept here. Every
    command leaves on a payload byte, an answer byte taken or within a bounded number
    of cycles, so a frame is always answered.

    Parameters
    ----------
    device : DeviceSpec
        The device: every width and depth below.

    Attributes
    ----------
    cmd : In(stream.Signature(COMMAND_LAYOUT))
        Validated request frames (:class:`~hw.link.HostLink`'s ``cmd``).
    rsp : Out(stream.Signature(RESPONSE_LAYOUT))
        One response per frame.
    link_errors : In(16)
        The link's refused-frame counter; ``clear_link_errors`` (Out(1)) zeroes it.
    codes : Out(stream.Signature(code_beat(device)))
        Code beats to the store path.
    seed, load : Out(device.seed_bits), Out(1)
        Seed and load pulse to the store path's LFSR bank; ``loading`` (In(1)) its busy.
    clear, count, overflow, rd_addr, rd_data :
        The activation SRAM's ports of the same names (``clear``, ``rd_addr`` outputs).
    weight_wr, weight_rd : In(WritePort.Signature), In(ReadPort.Signature)
        The weight buffer's ports (driven by this handler).
    dot : Out(stream.Signature(beat_layout(device.datapath)))
        Beats to the datapath; ``mode`` (Out(2)) with them.
    sums : In(stream.Signature(signed(acc_bits)))
        The datapath's sums; always taken.
    push, pop : Out(stream.Signature(acc_bits)), In(stream.Signature(acc_bits))
        The result FIFO's write and read sides; ``pending`` (In) its level.
    pixels, drop_image, clear_logits, computing, received, logits_rd, logits_valid,
    stop_at, resume, stopped, layer, peek_addr, peek_lane, peek :
        With an engine (``device.engine``): the ports of :class:`LoadImage`,
        :class:`ReadLogits`, :class:`RunTo` and :class:`ReadLayer` of the same names.
    busy : Out(1)
        A command is being handled.
    error : Out(1)
        Any sticky :class:`spec.StatusFlag` is set.
    last_ok : Out(1)
        The last frame was answered ``OK`` (a link-layer refusal clears it).
    """

    def __init__(self, device: DeviceSpec):
        if not isinstance(device, DeviceSpec):
            raise TypeError(f"device must be a DeviceSpec, not {device!r}")
        self.device = dev = device
        word = unsigned(dev.word_bits)
        engine = {}
        if dev.engine is not None:
            engine = {
                name: member
                for command in (LoadImage, ReadLogits, RunTo, ReadLayer)
                for name, member in command.ports(dev).items()
            }
        super().__init__(
            {
                **engine,
                "cmd": In(stream.Signature(COMMAND_LAYOUT)),
                "rsp": Out(stream.Signature(RESPONSE_LAYOUT)),
                "link_errors": In(16),
                "clear_link_errors": Out(1),
                "codes": Out(stream.Signature(code_beat(dev))),
                "seed": Out(dev.seed_bits),
                "load": Out(1),
                "loading": In(1),
                "clear": Out(1),
                "count": In(range(dev.depth + 1)),
                "overflow": In(1),
                "rd_addr": Out(range(dev.depth)),
                "rd_data": In(dev.word_bits),
                "weight_wr": In(
                    memory.WritePort.Signature(addr_width=ceil_log2(dev.weight_depth), shape=word)
                ),
                "weight_rd": In(
                    memory.ReadPort.Signature(addr_width=ceil_log2(dev.weight_depth), shape=word)
                ),
                "dot": Out(stream.Signature(beat_layout(dev.datapath))),
                "mode": Out(2),
                "sums": In(stream.Signature(signed(dev.acc_bits))),
                "push": Out(stream.Signature(dev.acc_bits)),
                "pop": In(stream.Signature(dev.acc_bits)),
                "pending": In(range(dev.result_depth + 1)),
                "busy": Out(1),
                "error": Out(1),
                "last_ok": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        commands = {
            op: cls(self.device)
            for op, cls in COMMANDS.items()
            if op not in ENGINE_COMMANDS or self.device.engine is not None
        }
        for op, command in commands.items():
            m.submodules[op.name.lower()] = command

        cmd, beat = self.cmd, self.cmd.payload
        fixed_max = max(layout.fixed_bytes for layout in REQUESTS.values())
        opcode, length = Signal(8), Signal(16)
        fields = Signal(8 * fixed_max)  # payload byte k in bits 8k..
        fixed = Signal(range(fixed_max + 1))  # fixed bytes of this opcode
        known = Signal()
        idx = Signal(range(fixed_max + 1))
        rx_done = Signal()  # the frame's final beat has been taken
        start = Signal()
        with m.If(cmd.valid & cmd.ready & beat.last):
            m.d.sync += rx_done.eq(1)
        with m.Switch(opcode):
            for op in commands:
                with m.Case(op):
                    m.d.comb += [fixed.eq(REQUESTS[op].fixed_bytes), known.eq(1)]

        # The running command's streams, and an UNKNOWN_OPCODE answer for a frame the
        # link should never deliver.
        sel_i_ready, sel_o_valid = Signal(), Signal()
        sel_o = Signal(ANSWER_LAYOUT)
        feed, take = Signal(), Signal()
        running = Signal()
        draining = Signal()  # the command answered before taking its whole frame
        m.d.comb += [
            draining.eq(sel_o_valid & ~rx_done),
            feed.eq(running & cmd.valid & ~draining),
            take.eq(running & rx_done & self.rsp.ready),
        ]
        with m.If(running & ~known):
            m.d.comb += [sel_o_valid.eq(1), sel_o.status.eq(Status.UNKNOWN_OPCODE),
                         sel_o.last.eq(1)]  # fmt: skip

        sticky = Signal(16)
        drivers: dict[str, list[tuple[Opcode, Value]]] = defaultdict(list)
        for op, command in commands.items():
            active = opcode == op
            m.d.comb += [
                command.start.eq(start & active),
                command.fields.eq(fields[: len(command.fields.as_value())]),
                command.tail.eq(length - fixed),
                command.rx_done.eq(rx_done),
                command.i.payload.data.eq(beat.data),
                command.i.payload.last.eq(beat.last),
                command.i.valid.eq(feed & active),
                command.o.ready.eq(take & active),
            ]
            with m.If(active):
                m.d.comb += [
                    sel_i_ready.eq(command.i.ready),
                    sel_o_valid.eq(command.o.valid),
                    sel_o.eq(command.o.payload),
                ]
            for name, member in command.signature.members.items():
                if name in Command.PORTS or name in _FLAG_PORTS:
                    continue
                port, outer = getattr(command, name), getattr(self, name)
                if member.is_signature:  # a stream or memory port: one command owns it
                    wiring.connect(m, wiring.flipped(outer), port)
                elif member.flow == In:
                    m.d.comb += port.eq(outer)
                else:
                    drivers[name].append((op, port))
            if hasattr(command, "FLAG"):
                with m.If(command.raise_flag):
                    m.d.sync += sticky[exact_log2(command.FLAG.value)].eq(1)
        for name, ports in drivers.items():
            if len(ports) == 1:
                m.d.comb += getattr(self, name).eq(ports[0][1])
                continue
            with m.Switch(opcode):
                for op, port in ports:
                    with m.Case(op):
                        m.d.comb += getattr(self, name).eq(port)

        # Sticky flags, the link's error count, the LEDs.
        clear = commands[Opcode.CLEAR_STATUS].clear_flags
        link_error = self.link_errors != 0
        flags = sticky | (link_error << exact_log2(StatusFlag.LINK_ERROR.value))
        m.d.comb += [
            commands[Opcode.READ_STATUS].flags.eq(flags),
            self.clear_link_errors.eq(clear),
            self.error.eq(flags != 0),
        ]
        with m.If(clear):
            m.d.sync += sticky.eq(0)
        seen_errors = Signal(16)
        m.d.sync += seen_errors.eq(self.link_errors)
        with m.If(self.link_errors > seen_errors):  # a frame was refused by the link
            m.d.sync += self.last_ok.eq(0)

        m.d.comb += [
            self.rsp.valid.eq(running & rx_done & sel_o_valid),
            self.rsp.payload.status.eq(sel_o.status),
            self.rsp.payload.opcode.eq(opcode),
            self.rsp.payload.length.eq(sel_o.length),
            self.rsp.payload.data.eq(sel_o.data),
        ]
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(cmd.valid):
                    m.d.sync += [opcode.eq(beat.opcode), length.eq(beat.length), idx.eq(0),
                                 rx_done.eq(0)]  # fmt: skip
                    m.next = "FIELDS"
            with m.State("FIELDS"):
                with m.If(known & (fixed == 0)):
                    m.d.comb += cmd.ready.eq(1)  # the one empty beat of the frame
                    with m.If(cmd.valid):
                        m.next = "START"
                with m.Elif(known):
                    m.d.comb += cmd.ready.eq(1)
                    with m.If(cmd.valid):
                        m.d.sync += [fields.word_select(idx, 8).eq(beat.data), idx.eq(idx + 1)]
                        with m.If(idx == fixed - 1):
                            m.next = "START"
                with m.Else():
                    m.next = "RUN"
            with m.State("START"):
                m.d.comb += start.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [running.eq(1), cmd.ready.eq(Mux(draining, 1, sel_i_ready))]
                with m.If(self.rsp.valid & self.rsp.ready & sel_o.last):
                    m.d.sync += self.last_ok.eq(sel_o.status == Status.OK)
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m

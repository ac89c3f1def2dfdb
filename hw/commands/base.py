"""What every command component shares: its handshake with the dispatcher, the layouts
of its tail and answer streams, and :class:`Reply`, which sends a fixed-size answer.

A command is started once per frame, after the dispatcher has collected the frame's
fixed fields. It may take the rest of the frame (the tail) from ``i``, and it answers
on ``o``: ``max(length, 1)`` beats, every one with the same ``status`` and ``length``,
the final one marked ``last``. A command that answers before it has taken the whole
tail (a refusal) has the rest drained by the dispatcher before its answer goes out, so
a refused frame never changes anything and is answered exactly once.
"""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from spec import REQUESTS, DeviceSpec, Opcode, Status
from spec.protocol import PayloadLayout

__all__ = ["ANSWER_LAYOUT", "TAIL_LAYOUT", "Command", "Reply", "answer", "fields_layout", "pack"]

#: A tail byte of the frame being handled; ``last`` on the frame's final byte.
TAIL_LAYOUT = data.StructLayout({"data": unsigned(8), "last": unsigned(1)})
#: An answer beat: the dispatcher adds the opcode and hands it to the link.
ANSWER_LAYOUT = data.StructLayout(
    {"status": unsigned(8), "length": unsigned(16), "data": unsigned(8), "last": unsigned(1)}
)


def fields_layout(layout: PayloadLayout) -> data.StructLayout:
    """The fixed fields of ``layout`` as a struct: field ``name`` of ``size`` bytes is
    ``unsigned(8 * size)`` at its byte offset (payload byte ``k`` is bits ``8k..``)."""
    return data.StructLayout({name: unsigned(8 * size) for name, size in layout.fields})


def pack(layout: PayloadLayout, values: dict[str, Value | int]) -> Value:
    """The payload bits of ``layout`` (fields in order, little-endian), each value
    zero-extended or truncated to its field."""
    return Cat(
        Cat(Value.cast(values[name]), C(0, 8 * size))[: 8 * size] for name, size in layout.fields
    )


class Command(wiring.Component):
    """Base of the command components: the ports every command has, plus ``extra``.

    Parameters
    ----------
    opcode : Opcode
        The command; its request layout gives ``fields``.
    device : DeviceSpec
        The device the command is part of.
    extra : dict
        The command's own ports (named as the :class:`~hw.top.CommandHandler` ports
        they are wired to).

    Attributes
    ----------
    start : In(1)
        Pulse: a frame for this command; ``fields`` and ``tail`` are valid from this
        cycle until the answer's ``last`` beat is taken.
    fields : In(fields_layout(REQUESTS[opcode]))
        The frame's fixed fields.
    tail : In(16)
        Bytes of the frame after its fixed fields.
    rx_done : In(1)
        The frame's final byte has already been taken (so ``i`` brings nothing more).
    i : In(stream.Signature(TAIL_LAYOUT))
        The tail.
    o : Out(stream.Signature(ANSWER_LAYOUT))
        The answer.
    """

    #: The ports every command has (the dispatcher's side of the handshake).
    PORTS = ("start", "fields", "tail", "rx_done", "i", "o")

    def __init__(self, opcode: Opcode, device: DeviceSpec, extra: dict | None = None):
        if not isinstance(device, DeviceSpec):
            raise TypeError(f"device must be a DeviceSpec, not {device!r}")
        self.opcode, self.device = Opcode(opcode), device
        super().__init__(
            {
                "start": In(1),
                "fields": In(fields_layout(REQUESTS[self.opcode])),
                "tail": In(16),
                "rx_done": In(1),
                "i": In(stream.Signature(TAIL_LAYOUT)),
                "o": Out(stream.Signature(ANSWER_LAYOUT)),
                **(extra or {}),
            }
        )


class Reply(wiring.Component):
    """Sends one answer of at most ``max_bytes`` fixed bytes: ``send`` captures
    ``status``, ``length`` and ``payload``, then the answer goes out on ``o``.

    Parameters
    ----------
    max_bytes : int
        Largest payload; ``payload`` byte ``k`` is bits ``8k..8k+7``.

    Attributes
    ----------
    send : In(1)
        Pulse: capture and start (ignored while ``busy``).
    status, length, payload : In(8), In(16), In(8 * max_bytes)
        The answer; ``length`` 0 sends one empty beat.
    o : Out(stream.Signature(ANSWER_LAYOUT))
        The answer's beats.
    busy : Out(1)
        An answer is being sent.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max(max_bytes, 1)
        super().__init__(
            {
                "send": In(1),
                "status": In(8),
                "length": In(16),
                "payload": In(8 * self.max_bytes),
                "o": Out(stream.Signature(ANSWER_LAYOUT)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        status, length = Signal(8), Signal(16)
        payload = Signal(8 * self.max_bytes)
        k = Signal(range(self.max_bytes + 1))
        final = Signal()
        m.d.comb += [
            final.eq((length == 0) | (k == length - 1)),
            self.o.valid.eq(self.busy),
            self.o.payload.status.eq(status),
            self.o.payload.length.eq(length),
            self.o.payload.data.eq(payload.word_select(k[: max(ceil_log2(self.max_bytes), 1)], 8)),
            self.o.payload.last.eq(final),
        ]
        with m.If(self.busy):
            with m.If(self.o.ready):
                m.d.sync += k.eq(k + 1)
                with m.If(final):
                    m.d.sync += self.busy.eq(0)
        with m.Elif(self.send):
            m.d.sync += [
                status.eq(self.status),
                length.eq(self.length),
                payload.eq(self.payload),
                k.eq(0),
                self.busy.eq(1),
            ]
        return m


def answer(
    m: Module, reply: Reply, code: Status, length: int = 0, payload: Value | None = None
) -> None:
    """Drive ``reply``'s inputs for one cycle: send ``code`` with ``length`` bytes of
    ``payload`` (none by default). Used inside a command's FSM state."""
    m.d.comb += [reply.send.eq(1), reply.status.eq(code), reply.length.eq(length)]
    if payload is not None:
        m.d.comb += reply.payload.eq(payload)

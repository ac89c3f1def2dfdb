"""The host link's frame layer (SPEC section 9): bytes to validated command frames, and
response frames to bytes. The frame format is :class:`spec.LinkSpec`'s; see
``docs/protocol.md``. Command handlers attach to :class:`HostLink`'s ``cmd`` and
``rsp`` streams; this module knows no command's meaning beyond its allowed lengths.
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import crc, data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import LinkSpec, Status
from spec.protocol import clocks_per_bit

from .uart import UartRx, UartTx

__all__ = [
    "COMMAND_LAYOUT",
    "ERROR_LAYOUT",
    "RESPONSE_LAYOUT",
    "FrameReceiver",
    "FrameSender",
    "HostLink",
    "crc_parameters",
]

#: A payload byte of a validated request, with its frame's opcode and length.
COMMAND_LAYOUT = data.StructLayout(
    {
        "opcode": unsigned(8),
        "length": unsigned(16),
        "data": unsigned(8),
        "first": unsigned(1),
        "last": unsigned(1),
    }
)
#: A payload byte of a response, with its frame's status, opcode and length.
RESPONSE_LAYOUT = data.StructLayout(
    {"status": unsigned(8), "opcode": unsigned(8), "length": unsigned(16), "data": unsigned(8)}
)
#: A payload-less status frame (the receiver's refusals).
ERROR_LAYOUT = data.StructLayout({"status": unsigned(8), "opcode": unsigned(8)})


def crc_parameters(spec: LinkSpec) -> crc.Parameters:
    """The link's CRC over bytes, as ``amaranth.lib.crc`` parameters (software
    ``compute()`` and hardware ``create()``), from the spec's CRC fields."""
    return crc.Algorithm(**spec.crc_parameters)(data_width=8)


def _check_spec(spec: LinkSpec | None) -> LinkSpec:
    spec = LinkSpec() if spec is None else spec
    if not isinstance(spec, LinkSpec):
        raise TypeError(f"spec must be a LinkSpec, not {spec!r}")
    return spec


def _check_receiver(
    spec: LinkSpec, timeout_cycles: object, commands: Mapping[int, tuple[int, int]] | None
) -> tuple[int, dict[int, tuple[int, int]]]:
    """:class:`FrameReceiver`'s parameters, checked: ``(timeout_cycles, commands)``."""
    if isinstance(timeout_cycles, bool) or not isinstance(timeout_cycles, int):
        raise TypeError(f"timeout_cycles must be an integer, not {timeout_cycles!r}")
    if not 1 <= timeout_cycles <= 1 << 32:
        raise ValueError(f"timeout_cycles must be in 1..{1 << 32}, not {timeout_cycles}")
    commands = spec.request_lengths() if commands is None else dict(commands)
    for op, lengths in commands.items():
        ok = isinstance(op, int) and 0 <= op <= 0xFF
        ok = ok and isinstance(lengths, tuple) and len(lengths) == 2
        ok = ok and 0 <= lengths[0] <= lengths[1] <= spec.max_payload
        if not ok:
            raise ValueError(
                f"commands must map opcodes 0..255 to (lo, hi) lengths with "
                f"0 <= lo <= hi <= max_payload={spec.max_payload}, not {op!r}: {lengths!r}"
            )
    return timeout_cycles, commands


class FrameReceiver(wiring.Component):
    """Parses request frames from a byte stream, checks them, and replays each good
    frame's payload; answers every refused frame with one status on ``err``.

    A frame is ``sync | opcode | length (u16 LE) | payload | CRC``; bytes before a
    ``sync`` are dropped. The payload goes into a ``max_payload``-byte buffer (one
    block RAM); nothing reaches ``o`` until the whole frame has arrived and its CRC
    (every byte after ``sync``, checked by residue with :mod:`amaranth.lib.crc`), its
    opcode and its length are good, so a command never acts on a corrupted frame.

    Refusals, each one beat on ``err`` with the status and the opcode byte received
    (0 if none was):

    - while receiving: a length field over ``max_payload`` (``TOO_LONG``), a
      ``framing_error`` (``FRAMING``) or ``overrun`` (``OVERRUN``) pulse, or a bad CRC
      (``BAD_CRC``) leave the frame's true end unknown: the receiver drops bytes until
      the line has been quiet for ``timeout_cycles``, then answers. So one malformed
      request gets one answer, and its leftover bytes cannot start a false frame.
    - a frame that stops arriving for ``timeout_cycles`` is answered ``TIMEOUT``.
    - a complete frame with a good CRC and an opcode not in ``commands`` is answered
      ``UNKNOWN_OPCODE``; a length outside the opcode's range, ``BAD_LENGTH``.

    The receiver then waits for the next ``sync``: it never waits for anything but
    bytes, ``err.ready`` (while an answer is pending) and ``o.ready`` (while a frame is
    replayed).

    Latency and throughput: one byte per cycle in (``i.ready`` is high while
    receiving). A good frame's first payload beat is on ``o`` 2 cycles after its last
    CRC byte is taken, then one beat per cycle while ``o.ready``. There is one buffer:
    ``i.ready`` is low from the end of a frame until its last beat is taken (or its
    refusal is taken from ``err``), so the command handler must take the payload
    within about a byte time or the UART overruns; the host waits for each answer
    before sending, so in practice nothing is lost.

    Parameters
    ----------
    spec : LinkSpec, optional
        Frame format (the default :class:`spec.LinkSpec` if omitted).
    timeout_cycles : int
        Quiet cycles that end a frame, 1..2**32; ``spec.timeout_cycles(clk_hz)``.
    commands : mapping of int to (int, int), optional
        Accepted opcodes and their allowed payload lengths ``(lo, hi)``; by default
        ``spec.request_lengths()`` (every :class:`spec.Opcode`).

    Attributes
    ----------
    i : In(stream.Signature(8))
        Bytes from the line (a :class:`~hw.uart.UartRx`).
    framing_error, overrun : In(1)
        The UART's pulses. Both refuse a frame in progress. Between frames a framing
        error is treated the same way (the bad byte may have been a sync: the rest of
        that frame is dropped until the line is quiet, then ``FRAMING`` is answered once
        with opcode 0); an overrun between frames is ignored.
    line_active : In(1)
        The line is in use (:attr:`hw.uart.UartRx.active`): it restarts the quiet-line
        timer like a byte does, so bytes the UART cannot frame still keep the line from
        counting as quiet. Leave it 0 where only bytes are seen.
    o : Out(stream.Signature(COMMAND_LAYOUT))
        A good frame: ``max(length, 1)`` beats, each with the frame's ``opcode`` and
        ``length``; payload byte ``k`` in ``data`` of beat ``k``; ``first`` on beat 0,
        ``last`` on the final beat. A zero-length frame is one beat with ``data = 0``.
    err : Out(stream.Signature(ERROR_LAYOUT))
        One beat per refused frame: the :class:`spec.Status` and the opcode byte.

    Raises
    ------
    TypeError, ValueError
        A ``spec`` that is not a LinkSpec; ``timeout_cycles`` or a ``commands`` entry
        out of range.
    """

    def __init__(
        self,
        spec: LinkSpec | None = None,
        *,
        timeout_cycles: int,
        commands: Mapping[int, tuple[int, int]] | None = None,
    ):
        self.spec = spec = _check_spec(spec)
        self.timeout_cycles, self.commands = _check_receiver(spec, timeout_cycles, commands)
        super().__init__(
            {
                "i": In(stream.Signature(8)),
                "framing_error": In(1),
                "overrun": In(1),
                "line_active": In(1),
                "o": Out(stream.Signature(COMMAND_LAYOUT)),
                "err": Out(stream.Signature(ERROR_LAYOUT)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec = self.spec
        m.submodules.crc = check = crc_parameters(spec).create()
        m.submodules.buffer = buffer = memory.Memory(shape=8, depth=spec.max_payload, init=[])
        wr = buffer.write_port()
        rd = buffer.read_port()

        byte = Signal(8)
        take = Signal()  # a byte is accepted this cycle
        m.d.comb += [byte.eq(self.i.payload), take.eq(self.i.valid & self.i.ready)]

        opcode = Signal(8)
        length = Signal(16)
        new_length = Signal(16)  # the length field once its high byte is in
        index = Signal(16)  # payload byte, CRC byte, or output beat
        status = Signal(8)
        m.d.comb += new_length.eq(Cat(length[:8], byte))

        # Quiet-line timer: runs in the states that wait for a frame's next byte.
        timing = Signal()
        timer = Signal(range(self.timeout_cycles))
        timed_out = Signal()
        m.d.comb += timed_out.eq(timer == self.timeout_cycles - 1)
        with m.If(take | self.line_active | ~timing):
            m.d.sync += timer.eq(0)
        with m.Elif(~timed_out):
            m.d.sync += timer.eq(timer + 1)
        quiet = Signal()  # timed out with no byte arriving now
        m.d.comb += quiet.eq(timed_out & ~self.i.valid)

        # CRC over every byte after sync, CRC bytes included: a good frame leaves the
        # register at the algorithm's residue (match_detected).
        feeding = Signal()
        m.d.comb += [check.data.eq(byte), check.valid.eq(take & feeding)]

        known = Signal()
        allowed = Signal()
        with m.Switch(opcode):
            for op, (lo, hi) in sorted(self.commands.items()):
                with m.Case(op):
                    m.d.comb += [known.eq(1), allowed.eq((length >= lo) & (length <= hi))]

        last_payload = Signal()
        last_crc = Signal()
        m.d.comb += [
            last_payload.eq(index == length - 1),
            last_crc.eq(index == spec.crc_bytes - 1),
        ]

        last_beat = Signal()
        m.d.comb += [
            last_beat.eq((length == 0) | last_payload),
            self.o.payload.opcode.eq(opcode),
            self.o.payload.length.eq(length),
            self.o.payload.data.eq(Mux(length == 0, 0, rd.data)),
            self.o.payload.first.eq(index == 0),
            self.o.payload.last.eq(last_beat),
            self.err.payload.status.eq(status),
            self.err.payload.opcode.eq(opcode),
            wr.addr.eq(index),
            wr.data.eq(byte),
            rd.en.eq(0),
        ]

        def refuse(code: Status, *, drain: bool) -> None:
            m.d.sync += status.eq(code)
            m.next = "DRAIN" if drain else "ANSWER"

        def receiving() -> None:
            """What every state inside a frame does besides taking its byte."""
            m.d.comb += [self.i.ready.eq(1), timing.eq(1), feeding.eq(1)]
            with m.If(self.framing_error):
                refuse(Status.FRAMING, drain=True)
            with m.Elif(self.overrun):
                refuse(Status.OVERRUN, drain=True)
            with m.Elif(quiet):
                refuse(Status.TIMEOUT, drain=False)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.framing_error):
                    # A byte with a bad stop bit between frames may have been a frame's
                    # sync: what follows is a frame's body, never a frame of its own.
                    m.d.sync += opcode.eq(0)
                    refuse(Status.FRAMING, drain=True)
                with m.Elif(take & (byte == spec.sync)):
                    m.d.comb += check.start.eq(1)
                    m.d.sync += opcode.eq(0)
                    m.next = "OPCODE"
            with m.State("OPCODE"):
                with m.If(take):
                    m.d.sync += opcode.eq(byte)
                    m.next = "LENGTH_LO"
                receiving()
            with m.State("LENGTH_LO"):
                with m.If(take):
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LENGTH_HI"
                receiving()
            with m.State("LENGTH_HI"):
                with m.If(take):
                    m.d.sync += [length.eq(new_length), index.eq(0)]
                    with m.If(new_length > spec.max_payload):
                        refuse(Status.TOO_LONG, drain=True)
                    with m.Elif(new_length == 0):
                        m.next = "CRC"
                    with m.Else():
                        m.next = "PAYLOAD"
                receiving()
            with m.State("PAYLOAD"):
                with m.If(take):
                    m.d.comb += wr.en.eq(1)
                    m.d.sync += index.eq(index + 1)
                    with m.If(last_payload):
                        m.d.sync += index.eq(0)
                        m.next = "CRC"
                receiving()
            with m.State("CRC"):
                with m.If(take):
                    m.d.sync += index.eq(index + 1)
                    with m.If(last_crc):
                        m.next = "CHECK"
                receiving()
            with m.State("CHECK"):
                # The CRC register has taken the last byte; prefetch payload byte 0.
                m.d.comb += [rd.addr.eq(0), rd.en.eq(1)]
                m.d.sync += index.eq(0)
                with m.If(~check.match_detected):
                    refuse(Status.BAD_CRC, drain=True)
                with m.Elif(~known):
                    refuse(Status.UNKNOWN_OPCODE, drain=False)
                with m.Elif(~allowed):
                    refuse(Status.BAD_LENGTH, drain=False)
                with m.Else():
                    m.next = "DELIVER"
            with m.State("DELIVER"):
                m.d.comb += [
                    self.o.valid.eq(1),
                    rd.addr.eq(index + 1),
                    rd.en.eq(self.o.ready),  # hold the current byte while stalled
                ]
                with m.If(self.o.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(last_beat):
                        m.next = "IDLE"
            with m.State("DRAIN"):
                m.d.comb += [self.i.ready.eq(1), timing.eq(1)]
                with m.If(quiet):
                    m.next = "ANSWER"
            with m.State("ANSWER"):
                m.d.comb += self.err.valid.eq(1)
                with m.If(self.err.ready):
                    m.next = "IDLE"
        return m


class FrameSender(wiring.Component):
    """Turns responses into frames: ``sync | status | opcode | length (u16 LE) |
    payload | CRC`` (CRC over every byte after ``sync``, in :attr:`spec.LinkSpec.
    crc_byteorder`).

    A response on ``i`` is ``max(length, 1)`` beats: the first beat's ``status``,
    ``opcode`` and ``length`` make the header (later beats' are ignored), beat ``k``'s
    ``data`` is payload byte ``k``; a zero-length response is one beat whose ``data``
    is ignored. The handler must know the length before the first byte. A status on
    ``err`` becomes a zero-length frame; it goes first when both wait, but never
    interrupts a frame.

    Latency and throughput: the ``sync`` byte is offered in the cycle a response (or
    status) is valid; then one byte per cycle while ``o.ready``; payload beats pass
    through combinationally (``i.ready`` is ``o.ready`` during the payload). A frame of
    ``n`` payload bytes takes ``spec.response_bytes(n)`` byte handshakes.

    Parameters
    ----------
    spec : LinkSpec, optional
        Frame format (the default :class:`spec.LinkSpec` if omitted).

    Attributes
    ----------
    i : In(stream.Signature(RESPONSE_LAYOUT))
        Responses.
    err : In(stream.Signature(ERROR_LAYOUT))
        Payload-less status frames (a :class:`FrameReceiver`'s refusals).
    o : Out(stream.Signature(8))
        Bytes to the line (a :class:`~hw.uart.UartTx`).

    Raises
    ------
    TypeError
        A ``spec`` that is not a LinkSpec.
    """

    def __init__(self, spec: LinkSpec | None = None):
        self.spec = _check_spec(spec)
        super().__init__(
            {
                "i": In(stream.Signature(RESPONSE_LAYOUT)),
                "err": In(stream.Signature(ERROR_LAYOUT)),
                "o": Out(stream.Signature(8)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec = self.spec
        m.submodules.crc = gen = crc_parameters(spec).create()

        status = Signal(8)
        opcode = Signal(8)
        length = Signal(16)
        from_err = Signal()
        index = Signal(16)
        sent = Signal()  # a byte leaves this cycle
        feeding = Signal()
        m.d.comb += [
            sent.eq(self.o.valid & self.o.ready),
            gen.data.eq(self.o.payload),
            gen.valid.eq(sent & feeding),
        ]

        n = spec.crc_bytes
        crc_byte = Signal(8)
        with m.Switch(index):
            for k in range(n):
                shift = 8 * (n - 1 - k) if spec.crc_byteorder == "big" else 8 * k
                with m.Case(k):
                    m.d.comb += crc_byte.eq(gen.crc[shift : shift + 8])

        def header_byte(value: Signal, nxt: str) -> None:
            m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(value), feeding.eq(1)]
            with m.If(self.o.ready):
                m.next = nxt

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [
                    self.o.valid.eq(self.i.valid | self.err.valid),
                    self.o.payload.eq(spec.sync),
                ]
                with m.If(sent):
                    m.d.comb += gen.start.eq(1)
                    with m.If(self.err.valid):
                        m.d.comb += self.err.ready.eq(1)
                        m.d.sync += [
                            status.eq(self.err.payload.status),
                            opcode.eq(self.err.payload.opcode),
                            length.eq(0),
                            from_err.eq(1),
                        ]
                    with m.Else():
                        m.d.sync += [
                            status.eq(self.i.payload.status),
                            opcode.eq(self.i.payload.opcode),
                            length.eq(self.i.payload.length),
                            from_err.eq(0),
                        ]
                    m.next = "STATUS"
            with m.State("STATUS"):
                header_byte(status, "OPCODE")
            with m.State("OPCODE"):
                header_byte(opcode, "LENGTH_LO")
            with m.State("LENGTH_LO"):
                header_byte(length[:8], "LENGTH_HI")
            with m.State("LENGTH_HI"):
                header_byte(length[8:], "PAYLOAD")
                m.d.sync += index.eq(0)
                with m.If(self.o.ready & (length == 0)):
                    # The one beat of a zero-length response is taken with its header.
                    m.d.comb += self.i.ready.eq(~from_err)
                    m.next = "CRC"
            with m.State("PAYLOAD"):
                m.d.comb += [
                    self.o.valid.eq(self.i.valid),
                    self.o.payload.eq(self.i.payload.data),
                    self.i.ready.eq(self.o.ready),
                    feeding.eq(1),
                ]
                with m.If(sent):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == length - 1):
                        m.d.sync += index.eq(0)
                        m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(crc_byte)]
                with m.If(self.o.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == n - 1):
                        m.next = "IDLE"
        return m


class HostLink(wiring.Component):
    """The whole link: UART pins in and out, validated command frames out, responses
    in. :class:`~hw.uart.UartRx` -> :class:`FrameReceiver` -> ``cmd``; ``rsp`` and the
    receiver's refusals -> :class:`FrameSender` -> :class:`~hw.uart.UartTx`.

    Every request frame gets exactly one answer: the handler's response on ``rsp`` for
    a frame delivered on ``cmd``, or the receiver's status frame for a refused one.
    Latency and throughput are the blocks': the line rate both ways; a good frame's
    first ``cmd`` beat comes 2 cycles after :class:`~hw.uart.UartRx` delivers its last
    CRC byte (about 3 cycles after the middle of that byte's stop bit).

    Parameters
    ----------
    spec : LinkSpec, optional
        Frame format, baud and quiet-line timeout (the default spec if omitted).
    clk_hz : int
        Clock frequency: sets the clocks per bit and the timeout in cycles.
    timeout_cycles : int, optional
        Overrides ``spec.timeout_cycles(clk_hz)`` (short timeouts for simulation).
    commands : mapping, optional
        As :class:`FrameReceiver`.

    Attributes
    ----------
    rx : In(1, init=1)
        Serial line from the host (the FT2232's TXD).
    tx : Out(1, init=1)
        Serial line to the host.
    cmd : Out(stream.Signature(COMMAND_LAYOUT))
        Good request frames (:class:`FrameReceiver`'s ``o``).
    rsp : In(stream.Signature(RESPONSE_LAYOUT))
        Responses (:class:`FrameSender`'s ``i``); send exactly one per ``cmd`` frame.
    errors : Out(16)
        Frames refused since reset or ``clear_errors``; saturates at 65535.
    clear_errors : In(1)
        Pulse: zero ``errors``.
    clocks_per_bit, timeout_cycles : int
        The UART's bit time and the quiet-line timeout, in cycles (not ports).

    Raises
    ------
    TypeError, ValueError
        Parameters that the blocks refuse (a baud ``clk_hz`` cannot make, ...).
    """

    def __init__(
        self,
        spec: LinkSpec | None = None,
        *,
        clk_hz: int,
        timeout_cycles: int | None = None,
        commands: Mapping[int, tuple[int, int]] | None = None,
    ):
        self.spec = spec = _check_spec(spec)
        self.clocks_per_bit, self.timeout_cycles, self.commands = self.check(
            spec, clk_hz=clk_hz, timeout_cycles=timeout_cycles, commands=commands
        )
        self.clk_hz = clk_hz
        super().__init__(
            {
                "rx": In(1, init=1),
                "tx": Out(1, init=1),
                "cmd": Out(stream.Signature(COMMAND_LAYOUT)),
                "rsp": In(stream.Signature(RESPONSE_LAYOUT)),
                "errors": Out(16),
                "clear_errors": In(1),
            }
        )

    @staticmethod
    def check(
        spec: LinkSpec,
        *,
        clk_hz: int,
        timeout_cycles: int | None = None,
        commands: Mapping[int, tuple[int, int]] | None = None,
    ) -> tuple[int, int, dict[int, tuple[int, int]]]:
        """The checks of the constructor, without building anything: returns
        ``(clocks_per_bit, timeout_cycles, commands)`` or raises as it does. A block
        that builds a link in ``elaborate`` calls this in its own constructor."""
        cpb = clocks_per_bit(clk_hz, spec.baud)
        if timeout_cycles is None:
            timeout_cycles = spec.timeout_cycles(clk_hz)
        return (cpb, *_check_receiver(spec, timeout_cycles, commands))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec = self.spec
        m.submodules.uart_rx = urx = UartRx(clk_hz=self.clk_hz, baud=spec.baud)
        m.submodules.uart_tx = utx = UartTx(clk_hz=self.clk_hz, baud=spec.baud)
        m.submodules.receiver = rcv = FrameReceiver(
            spec, timeout_cycles=self.timeout_cycles, commands=self.commands
        )
        m.submodules.sender = snd = FrameSender(spec)
        m.d.comb += [
            urx.rx.eq(self.rx),
            self.tx.eq(utx.tx),
            rcv.framing_error.eq(urx.framing_error),
            rcv.overrun.eq(urx.overrun),
            rcv.line_active.eq(urx.active),
        ]
        wiring.connect(m, urx.o, rcv.i)
        wiring.connect(m, rcv.err, snd.err)
        wiring.connect(m, snd.o, utx.i)
        wiring.connect(m, rcv.o, wiring.flipped(self.cmd))
        wiring.connect(m, wiring.flipped(self.rsp), snd.i)

        refused = Signal()
        m.d.comb += refused.eq(rcv.err.valid & rcv.err.ready)
        with m.If(self.clear_errors):
            m.d.sync += self.errors.eq(0)
        with m.Elif(refused & (self.errors != 0xFFFF)):
            m.d.sync += self.errors.eq(self.errors + 1)
        return m

"""The sbq top level (SPEC sections 8-9): the host link, the store path, a weight buffer,
the XNOR/accumulate datapath and a result FIFO behind one command handler.

Wiring only: :class:`SbqCore` joins the :class:`~hw.commands.CommandHandler` (one
component per command, ``hw/commands/``) to the blocks it drives, :class:`SbqTop` puts
a :class:`~hw.link.HostLink` in front and :class:`BoardTop` puts it on an
amaranth-boards platform. Every size comes from one :class:`spec.DeviceSpec`; every
block is built in ``elaborate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth.build import ResourceError
from amaranth.hdl import Cat, Elaboratable, Module, Signal, unsigned
from amaranth.lib import fifo, io, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import DeviceSpec
from spec.engine import EngineSpec

from .commands import CommandHandler
from .link import COMMAND_LAYOUT, RESPONSE_LAYOUT, HostLink
from .store import BinarizeAndStore
from .xnor_acc import ALL_MODES, XnorAccumulator

if TYPE_CHECKING:
    from model.intnet import IntNetwork

__all__ = ["BoardTop", "Heartbeat", "SbqCore", "SbqTop"]

#: LEDs :class:`SbqTop` drives: heartbeat, busy, sticky error, last command OK.
LED_COUNT = 4


def _device(device: DeviceSpec | None) -> DeviceSpec:
    device = DeviceSpec() if device is None else device
    if not isinstance(device, DeviceSpec):
        raise TypeError(f"device must be a DeviceSpec, not {device!r}")
    return device


def _network(
    device: DeviceSpec, network: IntNetwork | None, engine: EngineSpec | None
) -> tuple[IntNetwork | None, EngineSpec]:
    """``network`` and ``engine`` checked against ``device.engine``."""
    if network is None and device.engine is not None:
        raise ValueError("device.engine describes a network: give it (network=)")
    engine = EngineSpec() if engine is None else engine
    if network is not None and device.engine != network.engine_info(engine):
        raise ValueError("device.engine must be network.engine_info(engine)")
    return network, engine


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
    """Everything behind the link: a :class:`~hw.commands.CommandHandler` driving a
    :class:`~hw.store.BinarizeAndStore`, a weight buffer (``weight_depth`` words, one
    block RAM at the defaults), an :class:`~hw.xnor_acc.XnorAccumulator` (all modes:
    a dot product's partial last beat is masked) and a result FIFO
    (``amaranth.lib.fifo.SyncFIFOBuffered``). Its ``cmd``/``rsp`` side is a
    :class:`~hw.link.HostLink`'s.

    Parameters
    ----------
    device : DeviceSpec, optional
        The device (the default spec if omitted).

    network : IntNetwork, optional
        With an inference engine (:class:`~hw.engine.Engine`) running this network:
        ``device.engine`` must be ``network.engine_info(engine)``. Its logits land in a
        buffer that READ_LOGITS reads.
    engine : EngineSpec, optional
        The engine's lanes (16 if omitted).

    Attributes
    ----------
    cmd, rsp, link_errors, clear_link_errors, busy, error, last_ok :
        The :class:`~hw.commands.CommandHandler`'s ports of the same names.
    """

    def __init__(
        self,
        device: DeviceSpec | None = None,
        network: IntNetwork | None = None,
        engine: EngineSpec | None = None,
    ):
        self.device = _device(device)
        self.network, self.engine_spec = _network(self.device, network, engine)
        super().__init__(
            {
                "cmd": In(stream.Signature(COMMAND_LAYOUT)),
                "rsp": Out(stream.Signature(RESPONSE_LAYOUT)),
                "link_errors": In(16),
                "clear_link_errors": Out(1),
                "busy": Out(1),
                "error": Out(1),
                "last_ok": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dev = self.device
        b = dev.binarizer
        m.submodules.handler = handler = CommandHandler(dev)
        m.submodules.store = store = BinarizeAndStore(
            lanes=b.lanes, act_bits=b.act_bits, seed=b.seed, source=b.source,
            word_bits=dev.word_bits, depth=dev.depth,
        )  # fmt: skip
        m.submodules.datapath = datapath = XnorAccumulator(dev.datapath, modes=ALL_MODES)
        m.submodules.weights = weights = memory.Memory(
            shape=unsigned(dev.word_bits), depth=dev.weight_depth, init=[]
        )
        m.submodules.results = results = fifo.SyncFIFOBuffered(
            width=dev.acc_bits, depth=dev.result_depth
        )

        for name in ("cmd", "rsp", "link_errors", "clear_link_errors", "busy", "error",
                     "last_ok"):  # fmt: skip
            if self.signature.members[name].is_signature:
                wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(handler, name))
            elif self.signature.members[name].flow == In:
                m.d.comb += getattr(handler, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(handler, name))

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
        if self.network is not None:
            self._engine(m, handler)
        return m

    def _engine(self, m: Module, handler: CommandHandler) -> None:
        """The inference engine behind LOAD_IMAGE, RUN_TO and READ_LAYER, and the buffer
        READ_LOGITS reads."""
        from .engine import Engine  # the engine needs the network's file format (model)

        info = self.device.engine
        m.submodules.engine = engine = Engine(self.network, self.engine_spec)
        m.submodules.logits = logits = memory.Memory(shape=32, depth=info.classes, init=[])
        wiring.connect(m, handler.pixels, engine.pixels)
        wiring.connect(m, handler.logits_rd, logits.read_port())
        write = logits.write_port()
        index = Signal(range(info.classes))
        valid = Signal()
        m.d.comb += [
            engine.drop_image.eq(handler.drop_image),
            engine.logits.ready.eq(1),
            write.addr.eq(index),
            write.data.eq(engine.logits.payload),  # sign-extended to 32 bits
            write.en.eq(engine.logits.valid),
            handler.logits_valid.eq(valid),
            handler.computing.eq((handler.received == info.image_bytes) & ~valid & ~engine.stopped),
            engine.stop_at.eq(handler.stop_at),
            engine.resume.eq(handler.resume),
            handler.stopped.eq(engine.stopped),
            handler.layer.eq(handler.stop_at),
            engine.peek_addr.eq(handler.peek_addr),
            engine.peek_lane.eq(handler.peek_lane),
            handler.peek.eq(engine.peek),  # sign-extended to 32 bits
        ]
        with m.If(engine.logits.valid):
            m.d.sync += index.eq(index + 1)
            with m.If(index == info.classes - 1):
                m.d.sync += [index.eq(0), valid.eq(1)]
        with m.If(handler.clear_logits):
            m.d.sync += [index.eq(0), valid.eq(0)]


class SbqTop(wiring.Component):
    """The whole design behind a UART: :class:`~hw.link.HostLink` -> :class:`SbqCore`,
    plus a :class:`Heartbeat`. Wiring only; ``docs/protocol.md`` gives the commands.

    Parameters
    ----------
    device : DeviceSpec, optional
        The device, its link included (the default spec if omitted).
    clk_hz : int
        Clock frequency (UART timing, link timeout, heartbeat).
    timeout_cycles : int, optional
        Overrides the link's quiet-line timeout in cycles (for simulation).
    network, engine : IntNetwork, EngineSpec, optional
        An inference engine, as for :class:`SbqCore`.

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
    clocks_per_bit, timeout_cycles : int
        The UART's bit time and the link's quiet-line timeout in cycles (not ports).

    Raises
    ------
    TypeError, ValueError
        A ``device`` that is not a DeviceSpec, a baud ``clk_hz`` cannot make, a bad
        ``timeout_cycles``.
    """

    def __init__(
        self,
        device: DeviceSpec | None = None,
        *,
        clk_hz: int = 100_000_000,
        timeout_cycles: int | None = None,
        network: IntNetwork | None = None,
        engine: EngineSpec | None = None,
    ):
        self.device = _device(device)
        self.network, self.engine_spec = _network(self.device, network, engine)
        self.clocks_per_bit, self.timeout_cycles, _ = HostLink.check(
            self.device.link, clk_hz=clk_hz, timeout_cycles=timeout_cycles
        )
        self.clk_hz = clk_hz
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(LED_COUNT)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.link = link = HostLink(
            self.device.link, clk_hz=self.clk_hz, timeout_cycles=self.timeout_cycles
        )
        m.submodules.core = core = SbqCore(self.device, self.network, self.engine_spec)
        m.submodules.heartbeat = heartbeat = Heartbeat(clk_hz=self.clk_hz)
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
    device : DeviceSpec
        The device (its ``link.baud`` is the line rate).
    clk_hz : int
        The board's default clock (``platform.default_clk_frequency``).
    network, engine : IntNetwork, EngineSpec, optional
        An inference engine, as for :class:`SbqCore`.

    Raises
    ------
    TypeError, ValueError
        Parameters :class:`SbqTop` refuses; checked here, before any build step.
    """

    def __init__(
        self,
        device: DeviceSpec,
        *,
        clk_hz: int,
        network: IntNetwork | None = None,
        engine: EngineSpec | None = None,
    ):
        self.device = _device(device)
        self.network, self.engine_spec = _network(self.device, network, engine)
        HostLink.check(self.device.link, clk_hz=clk_hz)
        self.clk_hz = clk_hz

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.top = top = SbqTop(
            self.device, clk_hz=self.clk_hz, network=self.network, engine=self.engine_spec
        )
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

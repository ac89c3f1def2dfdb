"""The sequencer and memories of the inference engine: one integer network, baked in."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from amaranth.hdl import C, Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from model.intnet import IntNetwork, bounds
from spec import NO_STOP
from spec.engine import CODE_BITS, PASS_OVERHEAD, PEEK_LATENCY, EngineSpec, Pass, banks

from ..bram import BlockRAM
from .mac import MacArray
from .requant import RequantUnit
from .window import Geometry, WindowWalker

__all__ = ["Engine"]

#: Cycles from the walker's ``busy`` falling to the last output's write: its last
#: step on ``step`` (2), the read, its hold and the source's register (3), the
#: add/subtract array (:attr:`MacArray.latency`), the output's tag registered, the
#: rule and shortcut addresses registered, read, held and registered
#: (:data:`POST_LATENCY`), the requantization
#: (:attr:`RequantUnit.latency`), the write's register (1).
READ_LATENCY, POST_LATENCY = 3, 5
WRITE_LATENCY = 2 + READ_LATENCY + MacArray.latency + POST_LATENCY + RequantUnit.latency + 1
#: Cycles of a pass besides its steps: the description read and register, the
#: walker's start, the cycle its ``busy`` falls, and the drain.
DRAIN = PASS_OVERHEAD - 4
assert DRAIN >= WRITE_LATENCY, "spec.engine.PASS_OVERHEAD is shorter than the pipeline"

DST_STREAM, DST_CODES, DST_SUM, DST_NONE = 0, 1, 2, 3


def _bits(value: int) -> int:
    return max(int(value), 1).bit_length()


def _signed_bits(values: list[int]) -> int:
    return int(np.abs(np.asarray(values, dtype=object)).max(initial=0)).bit_length() + 1


class _Write(NamedTuple):
    """A write into a :class:`_Banked` memory, reaching its block RAMs a cycle later."""

    en: Signal
    addr: Signal
    data: Signal


class _Banked:
    """An engine memory of ``depth`` words of ``shape`` as banks of one block RAM's
    depth (:func:`spec.engine.banks`), each added to ``m`` as ``NAME`` or ``NAMEb``.

    Reads: the word at ``addr`` arrives in ``data`` two cycles later, held in a register
    beside each bank and chosen between the banks by the address's high bits, delayed
    alike. An ECP5 block RAM takes 5.8 ns from clock to output; behind a multiplexer
    (of banks, or of block RAMs that Yosys cascades in depth) and a long route, that
    was the engine's slowest path. A writable bank is therefore a
    :class:`hw.bram.BlockRAM` of read latency 2, whose second register is the block
    RAM's own output register on ECP5 (0.96 ns from clock to output). Writes
    (``write``, unless ``init`` is given: a ROM): enable, address and data reach the
    block RAMs through registers, so that the choice between a memory's writers and its
    fan-out never runs into their pins.
    """

    def __init__(self, m: Module, name: str, shape: Any, depth: int, init: list | None = None):
        count, words = banks(depth)
        self.words, self.shape, bits = words, shape, (words - 1).bit_length()
        self.addr = Signal(bits + max(count - 1, 1).bit_length(), name=f"{name}_raddr")
        held = [Signal(shape, name=f"{name}{b}_held") for b in range(count)]
        names = [name if count == 1 else f"{name}{b}" for b in range(count)]
        if init is None:
            rams = [BlockRAM(width=Shape.cast(shape).width, depth=words, read_latency=2)
                    for _ in range(count)]  # fmt: skip
            self.banks: list[Any] = rams
            for ram, sub, word in zip(rams, names, held, strict=True):
                m.submodules[sub] = ram
                m.d.comb += [ram.r_addr.eq(self.addr[:bits]), ram.r_en.eq(1), word.eq(ram.r_data)]
        else:
            self.banks = [memory.Memory(shape=shape, depth=words,
                                        init=init[b * words : (b + 1) * words])
                          for b in range(count)]  # fmt: skip
            for mem, sub, word in zip(self.banks, names, held, strict=True):
                m.submodules[sub] = mem
                port = mem.read_port()
                m.d.comb += port.addr.eq(self.addr[:bits])
                m.d.sync += word.eq(port.data)
        self.data = held[0]
        if count > 1:
            self.data = Signal(shape, name=f"{name}_data")
            with m.Switch(_pipeline(m, self.addr[bits:], 2, f"{name}_bank")[-1]):
                for b, word in enumerate(held):
                    with m.Case(b):
                        m.d.comb += self.data.eq(word)
        if init is not None:
            return
        w = self.write = _Write(Signal(name=f"{name}_wen"),
                                Signal.like(self.addr, name=f"{name}_waddr"),
                                Signal(shape, name=f"{name}_wdata"))  # fmt: skip
        for b, ram in enumerate(rams):
            m.d.sync += [ram.w_en.eq(w.en & (w.addr[bits:] == b)), ram.w_addr.eq(w.addr[:bits]),
                         ram.w_data.eq(w.data)]  # fmt: skip

    def word(self, addr: int) -> Any:
        """The memory's word ``addr`` (for simulation: ``ctx.get(buffer.word(k))``)."""
        bank = self.banks[addr // self.words]
        word = (bank.mem if isinstance(bank, BlockRAM) else bank).data[addr % self.words]
        return data.View(self.shape, word) if isinstance(self.shape, data.Layout) else word


def _pipeline(m: Module, value: Any, stages: int, name: str) -> list[Any]:
    """``value`` and its copies delayed by 1 to ``stages`` cycles (a shift register of
    registers shaped like it)."""
    line = [value]
    for k in range(stages):
        line.append(Signal.like(value, name=f"{name}{k + 1}"))
        m.d.sync += line[-1].eq(line[-2])
    return line


def stream_bits(net: IntNetwork) -> int:
    """Signed width of the stream buffers' elements: the stream's worst case
    (:func:`model.intnet.bounds`), not the format's cap."""
    return _bits(bounds(net)["stream"]) + 1


class Engine(wiring.Component):
    """A whole integer network on chip (``docs/formats.md`` section 6c), the passes of
    :meth:`spec.engine.EngineSpec.passes` one after the other: one image in, its logits
    out, equal to :func:`model.infer.run`.

    Memories: two stream buffers and two code buffers (words of ``lanes`` channels of
    one pixel), and read-only memories holding every weight bit, every rule's integers
    (one word per group of ``lanes`` channels) and every pass's description. The
    sequencer reads a pass's description, starts the :class:`WindowWalker` on it and
    waits for the pipeline (sources, :class:`MacArray` or the window adder,
    :class:`RequantUnit`, the write) to drain; the walker issues a step a cycle, so the
    array is busy on every step of every convolution.

    Parameters
    ----------
    net : IntNetwork
        The network (baked into the memories' initial contents).
    spec : EngineSpec
        Lanes.

    Attributes
    ----------
    pixels : In(stream.Signature(8))
        The image, pixel by pixel in row-major order, channels fastest
        (``image.transpose(1, 2, 0).ravel()`` of an NCHW image).
    logits : Out(stream.Signature(signed(logit_bits)))
        ``num_classes`` logits per image, in class order.
    busy : Out(1)
        An image is being computed (from its first pixel to its last logit).
    drop_image : In(1)
        Drop the pixels of a partly loaded image (no effect once the last one is in).
    done_pass : Out(1)
        High in the cycle that a pass's last output is written; ``pass_index`` (Out)
        says which (for tests).
    stop_at : In(16)
        The pass after which the engine stops (an index into ``program``; any other
        value, such as the initial :data:`spec.NO_STOP`: none). Stopped, it leaves that
        pass's output in its buffer, ``stopped`` (Out(1)) is high and ``busy`` low; a
        ``resume`` pulse (In(1)) runs on from the next pass, ``drop_image`` abandons
        the image.
    peek_addr, peek_lane : In
        While stopped: a word of the stopped pass's output and a lane of it; ``peek``
        (Out) is its value (codes zero-extended) :data:`spec.engine.PEEK_LATENCY` cycles later.
    program : tuple of Pass
        The passes (not a port); ``cycles`` their unstalled cycles per image.
    memories : dict
        After elaboration: ``x`` and ``c``, the stream and code buffers (for tests).
    """

    def __init__(self, net: IntNetwork, spec: EngineSpec | None = None):
        spec = EngineSpec() if spec is None else spec
        net.check()
        self.net, self.spec = net, spec
        self.program = spec.passes(net.spec)
        s = net.spec
        worst = bounds(net)
        self.stream_bits = stream_bits(net)
        self.acc_bits = _bits(max(c.acc_bound for c in s.convs())) + 1
        self.sum_bits = _bits(worst["head.sum"]) + 1
        self.y_bits = max(self.stream_bits, self.sum_bits, _bits(worst["logits"]) + 1)
        self.cycles = spec.cycles(s)
        self._rules = self._rule_words()
        self.add_bits = max(2, *(_signed_bits([a for _, a in w]) for w in self._rules[0]))
        super().__init__(
            {
                "pixels": In(stream.Signature(8)),
                "logits": Out(stream.Signature(signed(s.logit_bits))),
                "busy": Out(1),
                "drop_image": In(1),
                "done_pass": Out(1),
                "pass_index": Out(range(len(self.program))),
                "stop_at": In(16, init=NO_STOP),
                "resume": In(1),
                "stopped": Out(1),
                "peek_addr": In(range(max(spec.buffers(s).values()))),
                "peek_lane": In(range(spec.lanes)),
                "peek": Out(signed(max(self.stream_bits, CODE_BITS + 1))),
            }
        )

    # -- memory contents ----------------------------------------------------------------

    def _weight_words(self) -> tuple[list[int], dict[str, int]]:
        """Every conv's weights, word ``(go * k*k + tap) * gi_count + gi`` from its base:
        bit ``q * lanes + p`` is input ``gi*lanes + p`` into output ``go*lanes + q``."""
        lanes, words, base = self.spec.lanes, [], {}
        for conv in self.net.spec.convs():
            base[conv.name] = len(words)
            bits = self.net.bits[conv.name].reshape(conv.cout, conv.kernel**2, conv.cin)
            gi_n, go_n = self.spec.groups(conv.cin), self.spec.groups(conv.cout)
            pad = np.zeros((go_n * lanes, conv.kernel**2, gi_n * lanes), np.uint8)
            pad[: conv.cout, :, : conv.cin] = bits
            # [go, q, tap, gi, p] -> [go, tap, gi, q, p]
            blocks = pad.reshape(go_n, lanes, conv.kernel**2, gi_n, lanes)
            for flat in blocks.transpose(0, 2, 3, 1, 4).reshape(-1, lanes * lanes):
                words.append(int("".join("01"[b] for b in flat[::-1]), 2))
        return words, base

    def _rule_words(self) -> tuple[list[list[tuple[int, int]]], dict[int, int]]:
        """The rule of every pass, one word per output group: ``(M, C)`` per lane, zero
        for padding channels (so that their outputs stay zero). Word 0 of a pass
        without a rule is the identity. Returns the words and each pass's first."""
        lanes, words, base = self.spec.lanes, [], {}
        for i, p in enumerate(self.program):
            if p.kind in ("load",):
                continue
            if p.rule == "stem.bias":
                pairs = [(1, int(b)) for b in self.net.stem_bias]
            elif p.rule:
                r = self.net.requant[p.rule]
                one = len(r.mult) == 1  # a per-layer rule: the same pair on every channel
                pairs = [(int(r.mult[0 if one else c]), int(r.add[0 if one else c]))
                         for c in range(p.cout)]  # fmt: skip
            else:
                pairs = [(1, 0)] * p.cout
            base[i] = len(words)
            for g in range(self.spec.groups(p.cout)):
                chunk = pairs[g * lanes : (g + 1) * lanes]
                words.append(chunk + [(0, 0)] * (lanes - len(chunk)))
        return words, base

    def _shift(self, p: Pass) -> int:
        return self.net.requant[p.rule].shift if p.rule and p.rule != "stem.bias" else 0

    # -- gateware -----------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        m = Module()
        s, spec, lanes = self.net.spec, self.spec, self.spec.lanes
        sb = self.stream_bits
        q_max = (1 << s.act_bits) - 1
        body = [(i, p) for i, p in enumerate(self.program) if p.kind in ("window", "conv")]

        # Buffers, sized by what the program puts in them.
        depth = spec.buffers(s)
        weights, wbase = self._weight_words()
        assert len(weights) == spec.weight_words(s)
        rules, rbase = self._rules
        addr_bits = _bits(max(*depth.values(), len(weights), max(p.size_in for _, p in body) ** 2))
        addr_bits += 1
        size_bits = _bits(s.image_size) + 1
        group_bits = _bits(max(spec.groups(c) for c in (*s.stage_channels, s.num_classes,
                                                        s.in_channels))) + 1  # fmt: skip
        stream_word = data.ArrayLayout(signed(sb), lanes)
        code_word = data.ArrayLayout(unsigned(CODE_BITS), lanes)
        xmem = [_Banked(m, f"x{k}", stream_word, depth[f"x{k}"]) for k in (0, 1)]
        cmem = [_Banked(m, f"c{k}", code_word, depth[f"c{k}"]) for k in (0, 1)]
        wrom = _Banked(m, "wrom", unsigned(lanes * lanes), len(weights), init=weights)
        pair = data.StructLayout({"mult": signed(s.mult_bits), "add": signed(self.add_bits)})
        rule_word = data.ArrayLayout(pair, lanes)
        rrom = _Banked(m, "rrom", rule_word, len(rules),
                       init=[[{"mult": a, "add": b} for a, b in w] for w in rules])  # fmt: skip
        desc_layout = data.StructLayout(
            {
                "geometry": Geometry(size_bits, group_bits, addr_bits),
                "conv": unsigned(1),
                "src": unsigned(1),
                "dst_kind": unsigned(2),
                "dst": unsigned(1),
                "shortcut": unsigned(1),
                "clamp": unsigned(1),
                "hi": unsigned(CODE_BITS),
                "rbase": unsigned(addr_bits),
                "shift": unsigned(6),
                "stem_pad": unsigned(1),
            }
        )
        drom = _Banked(m, "drom", desc_layout, len(self.program),
                       init=[self._describe(i, p, wbase, rbase, q_max) if p.kind != "load" else {}
                             for i, p in enumerate(self.program)])  # fmt: skip
        self.memories = {"x": xmem, "c": cmem}
        xw, cw = [b.write for b in xmem], [b.write for b in cmem]
        xq, cq = [b.data for b in xmem], [b.data for b in cmem]

        # The pass: the first after the load from reset, after the logits and after a
        # dropped stop, so that the load state never drives it (a path nextpnr reported).
        pidx = Signal(range(len(self.program)), init=body[0][0])
        m.d.comb += drom.addr.eq(pidx)
        desc = drom.data  # the pass's description, two cycles after pidx
        m.submodules.walker = walker = WindowWalker(
            size_bits=size_bits, group_bits=group_bits, addr_bits=addr_bits
        )
        m.d.comb += walker.geometry.eq(desc.geometry)
        step = walker.step

        # The step, delayed: d_read with the source's register (the read, its hold,
        # the choice of buffer), d_sum with the window adder's sums, d_acc with the
        # array's.
        delayed = _pipeline(m, step, READ_LATENCY + MacArray.latency, "d")
        d_read, d_sum, d_acc = delayed[READ_LATENCY], delayed[READ_LATENCY + 1], delayed[-1]

        # Sources: codes through the array, or a stream through the window adder.
        m.d.comb += wrom.addr.eq(step.waddr)
        zero_word = Cat(
            Mux(desc.stem_pad & (j < s.in_channels), C(self.net.zero_code, CODE_BITS), 0)
            for j in range(lanes)
        )
        m.submodules.mac = mac = MacArray(lanes=lanes, code_bits=CODE_BITS, acc_bits=self.acc_bits)
        codes, weights = Signal(code_word), Signal(lanes * lanes)
        xsrc = Signal(stream_word)
        m.d.sync += [
            codes.eq(Mux(desc.src, cq[1], cq[0])),
            weights.eq(wrom.data),
            xsrc.eq(Mux(desc.src, xq[1], xq[0])),
        ]
        m.d.comb += [
            mac.en.eq(d_read.valid & desc.conv),
            mac.first.eq(d_read.first),
            mac.codes.eq(Mux(d_read.inside, codes, zero_word)),
            mac.weights.eq(weights),
        ]
        wacc = Signal(stream_word)
        with m.If(d_read.valid):
            for j in range(lanes):
                term = Mux(d_read.inside, xsrc[j], 0)
                m.d.sync += wacc[j].eq(Mux(d_read.first, 0, wacc[j]) + term)

        # The post-operation: the rule (and shortcut) read, then the requantization.
        x_bits = max(sb, self.acc_bits, self.sum_bits)
        tag = data.StructLayout({"out": unsigned(addr_bits), "go": unsigned(group_bits)})
        m.submodules.rq = rq = RequantUnit(
            lanes=lanes, x_bits=x_bits, mult_bits=s.mult_bits, add_bits=self.add_bits,
            shift_bits=6, y_bits=self.y_bits, tag_bits=tag.size,
        )  # fmt: skip
        post = Signal(tag)
        post_valid = Signal()
        post_x = Signal(data.ArrayLayout(signed(x_bits), lanes))
        logits_issue, logits_go = Signal(), Signal(group_bits)
        totals = [Signal(data.ArrayLayout(signed(self.sum_bits), lanes), name=f"totals{g}")
                  for g in range(spec.groups(s.num_classes))]  # fmt: skip
        with m.If(logits_issue):
            m.d.comb += [post_valid.eq(1), post.go.eq(logits_go)]
            with m.Switch(logits_go):
                for g, total in enumerate(totals):
                    with m.Case(g):
                        m.d.comb += [post_x[j].eq(total[j]) for j in range(lanes)]
        with m.Elif(desc.conv):
            m.d.comb += [post_valid.eq(d_acc.valid & d_acc.last), post.out.eq(d_acc.out),
                         post.go.eq(d_acc.go)]  # fmt: skip
            m.d.comb += [post_x[j].eq(mac.acc[j]) for j in range(lanes)]
        with m.Else():
            m.d.comb += [post_valid.eq(d_sum.valid & d_sum.last), post.out.eq(d_sum.out),
                         post.go.eq(d_sum.go)]  # fmt: skip
            m.d.comb += [post_x[j].eq(wacc[j]) for j in range(lanes)]
        # The output's tag is registered, then the rule's and the shortcut's addresses
        # computed from it and registered (the sequencer's choice of group and the
        # rule base's adder would otherwise run from the FSM across the chip into the
        # block RAMs' address pins); the reads arrive a cycle later, are held and
        # registered in turn. The operand keeps pace through POST_LATENCY registers
        # into the requantization unit.
        p_valid = _pipeline(m, post_valid, POST_LATENCY, "p_valid")[-1]
        tags = _pipeline(m, post, POST_LATENCY, "p_tag")
        p_tag, p_x = tags[-1], _pipeline(m, post_x, POST_LATENCY, "p_x")[-1]
        # While stopped, the shortcut's address register carries the peeked word's
        # address to the stream buffers, a register of its own to the code buffers.
        rule_addr, shortcut_addr = Signal(addr_bits), Signal(addr_bits)
        halted, peek_addr = Signal(), Signal(addr_bits)
        m.d.sync += [rule_addr.eq(desc.rbase + tags[1].go), peek_addr.eq(self.peek_addr),
                     shortcut_addr.eq(Mux(halted, self.peek_addr, tags[1].out))]  # fmt: skip
        m.d.comb += rrom.addr.eq(rule_addr)
        for k in (0, 1):  # a stream's read port: the walker's source, else the shortcut
            m.d.comb += xmem[k].addr.eq(Mux(desc.conv | halted, shortcut_addr, step.addr))
            m.d.comb += cmem[k].addr.eq(Mux(halted, peek_addr, step.addr))
        # The peeked word is the pass's output buffer's held word, registered as the
        # shortcut (a stream) or beside it (codes); the lane is chosen from that
        # register: the choice never spans the block RAMs spread over the chip (a path
        # nextpnr reported).
        shortcut, rule = Signal(stream_word), Signal(rule_word)
        dst_codes = Signal(code_word)
        m.d.sync += [shortcut.eq(Mux(desc.dst, xq[1], xq[0])),
                     dst_codes.eq(Mux(desc.dst, cq[1], cq[0])),
                     rule.eq(rrom.data)]  # fmt: skip
        lane = _pipeline(m, self.peek_lane, PEEK_LATENCY - 1, "peek_lane")[-1]
        with m.If(desc.dst_kind == DST_CODES):
            m.d.sync += self.peek.eq(dst_codes[lane])
        with m.Else():
            m.d.sync += self.peek.eq(shortcut[lane])
        m.d.comb += [
            rq.valid.eq(p_valid),
            rq.tag.eq(p_tag),
            rq.shift.eq(desc.shift),
            rq.clamp.eq(desc.clamp),
            rq.hi.eq(desc.hi),
        ]  # fmt: skip
        for j in range(lanes):
            m.d.comb += [
                rq.x[j].eq(p_x[j]),
                rq.mult[j].eq(rule[j].mult),
                rq.add[j].eq(rule[j].add),
                rq.shortcut[j].eq(Mux(desc.shortcut, shortcut[j], 0)),
            ]
        y_tag = data.View(tag, rq.y_tag)
        write = rq.y_valid
        # Address and data go to every buffer unconditionally (the image's load
        # overrides them in its state): only the enables depend on the pass.
        for k in (0, 1):
            m.d.comb += [xw[k].addr.eq(y_tag.out), cw[k].addr.eq(y_tag.out)]
            m.d.comb += [xw[k].data[j].eq(rq.y[j]) for j in range(lanes)]
            m.d.comb += [cw[k].data[j].eq(rq.y[j][:CODE_BITS]) for j in range(lanes)]
            with m.If(write & (desc.dst_kind == DST_STREAM) & (desc.dst == k)):
                m.d.comb += xw[k].en.eq(1)
            with m.If(write & (desc.dst_kind == DST_CODES) & (desc.dst == k)):
                m.d.comb += cw[k].en.eq(1)
        with m.If(write & (desc.dst_kind == DST_SUM)):
            with m.Switch(y_tag.go):
                for g, total in enumerate(totals):
                    with m.Case(g):
                        m.d.sync += [total[j].eq(total[j] + rq.y[j]) for j in range(lanes)]

        m.d.comb += self.stopped.eq(halted)
        self._sequence(m, body, pidx, walker, (logits_issue, logits_go), totals, rq, xw[0],
                       halted)  # fmt: skip
        return m

    def _describe(self, i: int, p: Pass, wbase: dict, rbase: dict, q_max: int) -> dict:
        """The description of pass ``i`` (the descriptor ROM's word; of the logits pass,
        only the rule's fields count)."""
        spec = self.spec
        if p.kind == "logits":
            return {"rbase": rbase[i], "shift": self._shift(p), "dst_kind": DST_NONE}
        in_groups = spec.groups(p.cin) if p.kind == "conv" else 1
        src_groups = spec.groups(p.cin)
        dst_kind = {"x": DST_STREAM, "c": DST_CODES, "s": DST_SUM}[p.dst[0]]
        return {
            "geometry": {
                "size_in": p.size_in,
                "size_out": p.size_out,
                "kernel": p.kernel,
                "stride2": int(p.stride == 2),
                "in_groups": in_groups,
                "src_groups": src_groups,
                "out_groups": spec.groups(p.cout),
                "row_words": p.size_in * src_groups,
                "read_go": int(p.kind == "window"),
                "steps": spec.steps(p),
                "wbase": wbase.get(p.name, 0) if p.kind == "conv" else 0,
            },
            "conv": int(p.kind == "conv"),
            "src": int(p.src[-1]),
            "dst_kind": dst_kind,
            "dst": int(p.dst[-1]) if dst_kind != DST_SUM else 0,
            "shortcut": int(p.shortcut),
            "clamp": int(dst_kind == DST_CODES),
            "hi": 255 if p.name == "stem.in" else q_max,
            "rbase": rbase[i],
            "shift": self._shift(p),
            "stem_pad": int(p.name == "stem"),
        }

    def _sequence(self, m, body, pidx, walker, logits, totals, rq, xw, halted) -> None:
        """The sequencer: the image in, each pass of ``body`` (description, walk, drain),
        the logits out; a stop after pass ``stop_at`` (``halted`` high)."""
        s, lanes = self.net.spec, self.spec.lanes
        logits_issue, logits_go = logits
        logits_index = len(self.program) - 1
        pixels = s.image_size**2
        chan, widx = Signal(range(lanes)), Signal(16)
        pixel_count = Signal(range(max(s.in_channels, 2)))
        count = Signal(range(DRAIN + 1))
        word = Signal(data.ArrayLayout(unsigned(8), lanes))
        pixels_left = Signal(range(pixels + 1), init=pixels)
        results = Signal.like(rq.y)
        first = body[0][0]
        classes_left = Signal(range(s.num_classes + 1))

        # The head's sums are cleared the cycle after the last logit, from a register:
        # the clear reaches every bit of every sum, too far for the FSM's own logic.
        clear_totals = Signal()
        m.d.sync += clear_totals.eq(0)
        with m.If(clear_totals):
            m.d.sync += [t.eq(0) for t in totals]
        # The walker's start and the logits' issue are registers set on entering their
        # states (KICK, LOGITS_ISSUE), not decodes of the state: the post-operation's
        # valid sits across the chip from the FSM (a path nextpnr reported).
        kick = Signal()
        m.d.sync += [kick.eq(0), logits_issue.eq(0)]
        m.d.comb += walker.start.eq(kick)

        # The image's words reach stream buffer 0 through registers of their own, and
        # take its write port from the passes' outputs while their enable is up: the
        # FSM's load state never reaches the buffer's write registers (a path nextpnr
        # reported, routed across the chip). No pass writes during the load.
        load = _Write(Signal(name="load_en"), Signal.like(xw.addr, name="load_addr"),
                      Signal.like(xw.data, name="load_data"))  # fmt: skip
        m.d.sync += load.en.eq(0)
        with m.If(load.en):
            m.d.comb += [xw.en.eq(1), xw.addr.eq(load.addr), xw.data.eq(load.data)]

        with m.FSM():
            with m.State("LOAD"):  # a byte a cycle into stream buffer 0
                m.d.comb += self.pixels.ready.eq(1)
                m.d.comb += self.busy.eq((pixels_left != pixels) | (pixel_count != 0))
                # The word so far with this byte, written when the byte completes it.
                full = Signal.like(word)
                m.d.comb += [full.eq(word), full[chan].eq(self.pixels.payload)]
                with m.If(self.pixels.valid):
                    done_word = (chan == lanes - 1) | (pixel_count == s.in_channels - 1)
                    m.d.sync += [word[chan].eq(self.pixels.payload), chan.eq(chan + 1),
                                 pixel_count.eq(pixel_count + 1)]  # fmt: skip
                    with m.If(done_word):
                        m.d.sync += [load.en.eq(1), load.addr.eq(widx), load.data[0].eq(full[0])]
                        m.d.sync += [load.data[j].eq(Mux(chan >= j, full[j], 0))
                                     for j in range(1, lanes)]  # fmt: skip
                        m.d.sync += [widx.eq(widx + 1), chan.eq(0)]
                    with m.If(pixel_count == s.in_channels - 1):
                        m.d.sync += [pixel_count.eq(0), pixels_left.eq(pixels_left - 1)]
                        with m.If(pixels_left == 1):
                            m.d.sync += [pixels_left.eq(pixels), widx.eq(0)]
                            m.next = "START"
                with m.If(self.drop_image):
                    m.d.sync += [chan.eq(0), widx.eq(0), pixel_count.eq(0),
                                 pixels_left.eq(pixels)]  # fmt: skip
                    m.next = "LOAD"
            with m.State("START"):  # the description is read
                m.d.comb += self.busy.eq(1)
                m.next = "DESC"
            with m.State("DESC"):  # and registered
                m.d.comb += self.busy.eq(1)
                with m.If(pidx == logits_index):
                    m.d.sync += [logits_go.eq(0), classes_left.eq(s.num_classes),
                                 logits_issue.eq(1)]  # fmt: skip
                    m.next = "LOGITS_ISSUE"
                with m.Else():
                    m.d.sync += kick.eq(1)
                    m.next = "KICK"
            with m.State("KICK"):
                m.d.comb += self.busy.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(~walker.busy):
                    m.d.sync += count.eq(DRAIN - 1)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += count.eq(count - 1)
                with m.If(count == 0):
                    m.d.comb += [self.done_pass.eq(1), self.pass_index.eq(pidx)]
                    with m.If(pidx == self.stop_at):
                        m.d.sync += halted.eq(1)
                        m.next = "STOPPED"
                    with m.Else():
                        m.d.sync += pidx.eq(pidx + 1)
                        m.next = "START"
            with m.State("STOPPED"):  # the pass's output stays in its buffer
                with m.If(self.drop_image):
                    m.d.sync += [halted.eq(0), pidx.eq(first), clear_totals.eq(1)]
                    m.next = "LOAD"
                with m.Elif(self.resume):
                    m.d.sync += [halted.eq(0), pidx.eq(pidx + 1)]
                    m.next = "START"
            with m.State("LOGITS_ISSUE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += count.eq(POST_LATENCY + RequantUnit.latency - 1)
                m.next = "LOGITS_WAIT"
            with m.State("LOGITS_WAIT"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += count.eq(count - 1)
                with m.If(count == 0):
                    m.d.sync += [results.eq(rq.y), chan.eq(0)]
                    m.next = "LOGITS_EMIT"
            with m.State("LOGITS_EMIT"):
                m.d.comb += [self.busy.eq(1), self.logits.valid.eq(1),
                             self.logits.payload.eq(results[chan])]  # fmt: skip
                with m.If(self.logits.ready):
                    m.d.sync += [chan.eq(chan + 1), classes_left.eq(classes_left - 1)]
                    with m.If(classes_left == 1):
                        m.d.comb += [self.done_pass.eq(1), self.pass_index.eq(logits_index)]
                        m.d.sync += [chan.eq(0), pidx.eq(first), clear_totals.eq(1)]
                        m.next = "LOAD"
                    with m.Elif(chan == lanes - 1):
                        m.d.sync += [logits_go.eq(logits_go + 1), logits_issue.eq(1)]
                        m.next = "LOGITS_ISSUE"

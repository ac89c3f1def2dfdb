"""The sequencer and memories of the inference engine: one integer network, baked in."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from model.intnet import IntNetwork, bounds
from spec.engine import EngineSpec, Pass

from .mac import MacArray
from .requant import RequantUnit

__all__ = ["Engine"]

#: Width of every code in the engine's code buffers: the stem's input codes are 8-bit.
CODE_BITS = 8


def _signed_bits(values: np.ndarray | list[int]) -> int:
    return int(np.abs(np.asarray(values, dtype=object)).max(initial=0)).bit_length() + 1


class Engine(wiring.Component):
    """A whole integer network on chip (``docs/formats.md`` section 6c), one pass of
    :meth:`spec.engine.EngineSpec.passes` after the other: one image in, its logits out,
    equal to :func:`model.infer.run`.

    Memories: two stream buffers (the stage's stream and the next), two code buffers
    (a requantized stream; the first convolution's output codes), and read-only
    memories with every weight bit and every rule's integers. A stream or code word
    holds ``lanes`` channels of one pixel.

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
    done_pass : Out(1)
        Pulse at the end of each pass; ``pass_index`` (Out) says which (for tests).
    cycles : int
        Cycles of the program by :meth:`EngineSpec.cycles` (not a port).
    """

    def __init__(self, net: IntNetwork, spec: EngineSpec | None = None):
        spec = EngineSpec() if spec is None else spec
        spec.check(net.spec)
        net.check()
        self.net, self.spec = net, spec
        self.program = spec.passes(net.spec)
        s = net.spec
        worst = bounds(net)
        self.stream_bits = s.stream_bits
        self.acc_bits = max(c.acc_bound for c in s.convs()).bit_length() + 1
        self.add_bits = _signed_bits([int(np.abs(r.add).max()) for r in net.requant.values()])
        self.logit_bits = s.logit_bits
        self.sum_bits = worst["head.sum"].bit_length() + 1
        self.cycles = spec.cycles(s)
        super().__init__(
            {
                "pixels": In(stream.Signature(8)),
                "logits": Out(stream.Signature(signed(s.logit_bits))),
                "busy": Out(1),
                "done_pass": Out(1),
                "pass_index": Out(range(len(self.program) + 2)),
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
            for go in range(go_n):
                for tap in range(conv.kernel**2):
                    for gi in range(gi_n):
                        word = 0
                        for q in range(lanes):
                            for p in range(lanes):
                                o, i = go * lanes + q, gi * lanes + p
                                if o < conv.cout and i < conv.cin and bits[o, tap, i]:
                                    word |= 1 << (q * lanes + p)
                        words.append(word)
        return words, base

    def _rule_words(self) -> tuple[list[int], dict[str, int]]:
        """Every rule's integers, one word per channel group: lane ``j`` holds
        ``M`` (``mult_bits``) then ``C`` (``add_bits``), two's complement; a per-layer
        rule repeats its one pair in every lane."""
        lanes, mb, ab = self.spec.lanes, self.net.spec.mult_bits, self.add_bits
        words, base = [], {}
        for name, r in self.net.requant.items():
            base[name] = len(words)
            n = len(r.mult)
            for g in range(self.spec.groups(n) if n > 1 else 1):
                word = 0
                for j in range(lanes):
                    c = g * lanes + j if n > 1 else 0
                    mult, add = (int(r.mult[c]), int(r.add[c])) if c < n else (0, 0)
                    lane = (mult % (1 << mb)) | ((add % (1 << ab)) << mb)
                    word |= lane << (j * (mb + ab))
                words.append(word)
        return words, base

    def _bias_words(self) -> list[int]:
        lanes, sb = self.spec.lanes, self.stream_bits
        bias = [int(b) for b in self.net.stem_bias]
        words = []
        for g in range(self.spec.groups(len(bias))):
            word = 0
            for j in range(lanes):
                c = g * lanes + j
                word |= ((bias[c] if c < len(bias) else 0) % (1 << sb)) << (j * sb)
            words.append(word)
        return words

    # -- gateware -----------------------------------------------------------------------

    def elaborate(self, platform: object) -> Module:
        m = Module()
        s, lanes = self.net.spec, self.spec.lanes
        sb, ab, mb = self.stream_bits, self.add_bits, s.mult_bits
        q_max = (1 << s.act_bits) - 1
        depth = max(
            p.conv.size_out**2 * self.spec.groups(p.conv.cout)
            for p in self.program
            if p.conv is not None
        )
        depth = max(depth, s.image_size**2 * self.spec.groups(s.in_channels))
        stream_word = data.ArrayLayout(signed(sb), lanes)
        code_word = data.ArrayLayout(unsigned(CODE_BITS), lanes)

        xmem = [memory.Memory(shape=stream_word, depth=depth, init=[]) for _ in range(2)]
        cmem = [memory.Memory(shape=code_word, depth=depth, init=[]) for _ in range(2)]
        weights, wbase = self._weight_words()
        rules, rbase = self._rule_words()
        wrom = memory.Memory(shape=unsigned(lanes * lanes), depth=len(weights), init=weights)
        rrom = memory.Memory(shape=unsigned(lanes * (mb + ab)), depth=len(rules), init=rules)
        bias = self._bias_words()
        brom = memory.Memory(shape=unsigned(lanes * sb), depth=len(bias), init=bias)
        for name, mem in (("x0", xmem[0]), ("x1", xmem[1]), ("ca", cmem[0]), ("cb", cmem[1]),
                          ("wrom", wrom), ("rrom", rrom), ("brom", brom)):  # fmt: skip
            m.submodules[name] = mem
        self.memories = {"x": xmem, "c": cmem}
        xr = [mem.read_port() for mem in xmem]
        xw = [mem.write_port() for mem in xmem]
        cr = [mem.read_port() for mem in cmem]
        cw = [mem.write_port() for mem in cmem]
        wr, rr, br = wrom.read_port(), rrom.read_port(), brom.read_port()
        for port in (*xw, *cw):
            m.d.comb += port.en.eq(0)

        m.submodules.mac = mac = MacArray(lanes=lanes, code_bits=CODE_BITS, acc_bits=self.acc_bits)
        m.submodules.rq = rq = RequantUnit(
            lanes=lanes, x_bits=max(sb, self.sum_bits), mult_bits=mb, add_bits=ab,
            shift_bits=6, y_bits=max(sb, s.logit_bits),
        )  # fmt: skip
        pair = data.StructLayout({"mult": signed(mb), "add": signed(ab)})
        rule_lanes = data.ArrayLayout(pair, lanes)
        rule = data.View(rule_lanes, rr.data)
        for j in range(lanes):
            m.d.comb += [rq.mult[j].eq(rule[j].mult), rq.add[j].eq(rule[j].add)]
        bias_word = data.View(stream_word, br.data)

        # Counters shared by the passes.
        oy, ox, go = Signal(16), Signal(16), Signal(16)
        ky, kx, gi = Signal(4), Signal(4), Signal(16)
        idx = Signal(range(depth + 1))
        grp = Signal(16)
        step_valid, step_first, step_inb = Signal(), Signal(), Signal()
        word = Signal(stream_word)  # image pixel being assembled, then the pooled shortcut
        chan = Signal(range(max(s.in_channels, 2)))
        totals = [Signal(signed(self.sum_bits), name=f"total{j}") for j in range(
            lanes * self.spec.groups(s.num_classes))]  # fmt: skip
        results = Signal(data.ArrayLayout(signed(max(sb, s.logit_bits)), lanes))
        emit = Signal(range(lanes + 1))
        cur = 0  # which stream buffer holds the stage's stream, at elaboration time

        def next_pass(i: int) -> str:
            return f"P{i + 1}_START" if i + 1 < len(self.program) else "IDLE"

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.sync += [idx.eq(0), chan.eq(0), word.eq(0)]
                with m.If(self.pixels.valid):
                    m.next = "LOAD"
            with m.State("LOAD"):  # the image into stream buffer 0, one pixel per word
                m.d.comb += self.pixels.ready.eq(1)
                with m.If(self.pixels.valid):
                    m.d.sync += [word[chan].eq(self.pixels.payload), chan.eq(chan + 1)]
                    with m.If(chan == s.in_channels - 1):
                        pixel = Signal(stream_word)
                        for j in range(s.in_channels - 1):
                            m.d.comb += pixel[j].eq(word[j])
                        m.d.comb += pixel[s.in_channels - 1].eq(self.pixels.payload)
                        m.d.comb += [xw[0].en.eq(1), xw[0].addr.eq(idx), xw[0].data.eq(pixel)]
                        m.d.sync += [idx.eq(idx + 1), chan.eq(0)]
                        with m.If(idx == s.image_size**2 - 1):
                            m.next = "P0_START"
            for i, p in enumerate(self.program):
                done = next_pass(i)
                if p.kind == "requant":
                    self._requant_pass(m, i, p, done, xr[cur], cw[0], rr, rbase, rq, idx, grp,
                                       step_valid, q_max)  # fmt: skip
                elif p.kind == "conv":
                    src = cr[0] if p.post != "add" and p.post != "pool_add" else cr[1]
                    dst_codes = cw[1]
                    nxt = 1 - cur
                    self._conv_pass(
                        m, i, p, done, src, wr, rr, br, wbase, rbase, mac, rq, bias_word,
                        xr[cur], xw[nxt], dst_codes, (oy, ox, go, ky, kx, gi),
                        (step_valid, step_first, step_inb), word, totals, q_max,
                    )  # fmt: skip
                    if p.post in ("stem", "add", "pool_add"):
                        cur = nxt
                else:
                    self._logits_pass(m, i, done, rr, rbase, rq, totals, results, go, emit)
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m

    def _finish(self, m: Module, i: int, done: str) -> None:
        m.d.comb += [self.done_pass.eq(1), self.pass_index.eq(i)]
        m.next = done

    def _requant_pass(self, m, i, p: Pass, done, xr, cw, rr, rbase, rq, idx, grp, valid, q_max):
        """Every word of the stream buffer through rule ``p.name`` into code buffer A:
        a read a cycle, the rule and the write the next."""
        groups = self.spec.groups(p.channels)
        n = p.pixels * groups
        r = self.net.requant[p.name]
        with m.State(f"P{i}_START"):
            m.d.sync += [idx.eq(0), grp.eq(0), valid.eq(0)]
            m.next = f"P{i}_RUN"
        with m.State(f"P{i}_RUN"):
            m.d.comb += [xr.addr.eq(idx), rr.addr.eq(rbase[p.name] + grp)]
            m.d.sync += [
                valid.eq(idx < n),
                idx.eq(idx + 1),
                grp.eq(Mux(grp == groups - 1, 0, grp + 1)),
            ]
            m.d.comb += [rq.shift.eq(r.shift), rq.clamp.eq(1),
                         rq.hi.eq(255 if p.name == "stem.in" else q_max)]  # fmt: skip
            for j in range(self.spec.lanes):
                m.d.comb += rq.x[j].eq(xr.data[j])
            with m.If(valid):
                m.d.comb += [cw.en.eq(1), cw.addr.eq(idx - 1)]
                for j in range(self.spec.lanes):
                    m.d.comb += cw.data[j].eq(rq.y[j][:CODE_BITS])
                with m.If(idx == n):
                    self._finish(m, i, done)

    def _conv_pass(self, m, i, p: Pass, done, src, wr, rr, br, wbase, rbase, mac, rq,
                   bias_word, xr, xw, cw, counters, steps, word, totals, q_max):  # fmt: skip
        """One convolution: per output pixel and output group, a step a cycle over the
        taps and input groups (reads issued one cycle, summed the next), then the
        post-operation of ``p.post``."""
        oy, ox, go, ky, kx, gi = counters
        step_valid, step_first, step_inb = steps
        conv, lanes, net = p.conv, self.spec.lanes, self.net
        k, stride, pad = conv.kernel, conv.stride, conv.kernel // 2
        size_in, size_out = conv.size_in, conv.size_out
        gi_n, go_n = self.spec.groups(conv.cin), self.spec.groups(conv.cout)
        out_addr = (oy * size_out + ox) * go_n + go
        pad_code = net.zero_code if conv.name == "stem" else 0
        pad_word = Cat(C(pad_code if j < conv.cin else 0, CODE_BITS) for j in range(lanes))

        def feed_mac() -> None:  # the step whose reads were issued last cycle
            m.d.comb += [
                mac.en.eq(step_valid),
                mac.first.eq(step_first),
                mac.codes.eq(Mux(step_inb, src.data, pad_word)),
                mac.weights.eq(wr.data),
            ]

        with m.State(f"P{i}_START"):
            m.d.sync += [oy.eq(0), ox.eq(0), go.eq(0), ky.eq(0), kx.eq(0), gi.eq(0),
                         step_valid.eq(0)]  # fmt: skip
            if p.post == "sum":
                m.d.sync += [t.eq(0) for t in totals]
            m.next = f"P{i}_RUN"
        with m.State(f"P{i}_RUN"):
            feed_mac()
            iy, ix = Signal(signed(20), name=f"p{i}_iy"), Signal(signed(20), name=f"p{i}_ix")
            m.d.comb += [iy.eq(oy * stride + ky - pad), ix.eq(ox * stride + kx - pad)]
            inb = (iy >= 0) & (iy < size_in) & (ix >= 0) & (ix < size_in)
            m.d.comb += [
                src.addr.eq(Mux(inb, (iy * size_in + ix) * gi_n + gi, 0)),
                wr.addr.eq(wbase[conv.name] + ((go * k + ky) * k + kx) * gi_n + gi),
            ]
            m.d.sync += [step_valid.eq(1), step_first.eq((ky == 0) & (kx == 0) & (gi == 0)),
                         step_inb.eq(inb)]  # fmt: skip
            last_gi, last_kx, last_ky = gi == gi_n - 1, kx == k - 1, ky == k - 1
            m.d.sync += gi.eq(Mux(last_gi, 0, gi + 1))
            with m.If(last_gi):
                m.d.sync += kx.eq(Mux(last_kx, 0, kx + 1))
                with m.If(last_kx):
                    m.d.sync += ky.eq(Mux(last_ky, 0, ky + 1))
                    with m.If(last_ky):
                        m.next = f"P{i}_DRAIN"
        with m.State(f"P{i}_DRAIN"):
            feed_mac()
            m.d.sync += step_valid.eq(0)
            m.next = f"P{i}_POOL" if p.post == "pool_add" else f"P{i}_POST0"

        if p.post == "pool_add":
            # The shortcut: the sum of a 3x3 window (stride 2, zero padding) of the old
            # stage's stream, its new channel groups zero.
            old = p.conv.size_in * 2
            stages = net.spec.stage_channels
            old_groups = self.spec.groups(stages[stages.index(conv.cout) - 1])
            with m.State(f"P{i}_POOL"):
                iy, ix = Signal(signed(20), name=f"p{i}_py"), Signal(signed(20), name=f"p{i}_px")
                m.d.comb += [iy.eq(oy * 2 + ky - 1), ix.eq(ox * 2 + kx - 1)]
                inb = (iy >= 0) & (iy < old) & (ix >= 0) & (ix < old) & (go < old_groups)
                m.d.comb += xr.addr.eq(Mux(inb, (iy * old + ix) * old_groups + go, 0))
                m.d.sync += [step_valid.eq(1), step_inb.eq(inb),
                             step_first.eq((ky == 0) & (kx == 0))]  # fmt: skip
                self._pool_add(m, xr, word, step_valid, step_first, step_inb)
                m.d.sync += kx.eq(Mux(kx == 2, 0, kx + 1))
                with m.If(kx == 2):
                    m.d.sync += ky.eq(Mux(ky == 2, 0, ky + 1))
                    with m.If(ky == 2):
                        m.next = f"P{i}_POOLD"
            with m.State(f"P{i}_POOLD"):
                self._pool_add(m, xr, word, step_valid, step_first, step_inb)
                m.d.sync += step_valid.eq(0)
                m.next = f"P{i}_POST0"

        with m.State(f"P{i}_POST0"):  # read what the post-operation needs
            if p.post == "stem":
                m.d.comb += br.addr.eq(go)
            elif p.post == "codes":
                m.d.comb += rr.addr.eq(rbase[conv.name.replace("conv1", "conv2") + ".in"] + go)
            elif p.post in ("add", "pool_add"):
                block = conv.name.removesuffix(".conv2")
                m.d.comb += rr.addr.eq(rbase[f"{block}.add"])
                if p.post == "add":
                    m.d.comb += xr.addr.eq(out_addr)
            else:  # sum
                with m.Switch(go):
                    for g in range(go_n):
                        with m.Case(g):
                            for j in range(lanes):
                                t = totals[g * lanes + j]
                                m.d.sync += t.eq(t + mac.acc[j])
            m.next = f"P{i}_ADVANCE" if p.post == "sum" else f"P{i}_POST1"

        if p.post != "sum":
            with m.State(f"P{i}_POST1"):  # compute and write
                for j in range(lanes):
                    m.d.comb += rq.x[j].eq(mac.acc[j])
                if p.post == "stem":
                    m.d.comb += [xw.en.eq(1), xw.addr.eq(out_addr)]
                    m.d.comb += [xw.data[j].eq(mac.acc[j] + bias_word[j]) for j in range(lanes)]
                elif p.post == "codes":
                    r = net.requant[conv.name.replace("conv1", "conv2") + ".in"]
                    m.d.comb += [rq.shift.eq(r.shift), rq.clamp.eq(1), rq.hi.eq(q_max)]
                    m.d.comb += [cw.en.eq(1), cw.addr.eq(out_addr)]
                    m.d.comb += [cw.data[j].eq(rq.y[j][:CODE_BITS]) for j in range(lanes)]
                else:
                    r = net.requant[f"{conv.name.removesuffix('.conv2')}.add"]
                    m.d.comb += [rq.shift.eq(r.shift), rq.clamp.eq(0)]
                    shortcut = xr.data if p.post == "add" else word
                    m.d.comb += [xw.en.eq(1), xw.addr.eq(out_addr)]
                    m.d.comb += [xw.data[j].eq(shortcut[j] + rq.y[j]) for j in range(lanes)]
                m.next = f"P{i}_ADVANCE"

        with m.State(f"P{i}_ADVANCE"):
            last_go, last_ox, last_oy = go == go_n - 1, ox == size_out - 1, oy == size_out - 1
            m.d.sync += [go.eq(Mux(last_go, 0, go + 1)), ky.eq(0), kx.eq(0), gi.eq(0)]
            m.next = f"P{i}_RUN"
            with m.If(last_go):
                m.d.sync += ox.eq(Mux(last_ox, 0, ox + 1))
                with m.If(last_ox):
                    m.d.sync += oy.eq(Mux(last_oy, 0, oy + 1))
                    with m.If(last_oy):
                        self._finish(m, i, done)

    @staticmethod
    def _pool_add(m, xr, word, valid, first, inb) -> None:
        """Add the word read last cycle (if in the window) to the pooled shortcut."""
        with m.If(valid):
            for j in range(len(word)):
                term = Mux(inb, xr.data[j], 0)
                m.d.sync += word[j].eq(Mux(first, term, word[j] + term))

    def _logits_pass(self, m, i, done, rr, rbase, rq, totals, results, go, emit) -> None:
        """The per-class rule on the head's sums, out one logit at a time."""
        lanes, classes = self.spec.lanes, self.net.spec.num_classes
        groups = self.spec.groups(classes)
        r = self.net.requant["logits"]
        with m.State(f"P{i}_START"):
            m.d.sync += go.eq(0)
            m.next = f"P{i}_READ"
        with m.State(f"P{i}_READ"):
            m.d.comb += rr.addr.eq(rbase["logits"] + go)
            m.d.sync += emit.eq(0)
            m.next = f"P{i}_CALC"
        with m.State(f"P{i}_CALC"):
            m.d.comb += [rq.shift.eq(r.shift), rq.clamp.eq(0)]
            with m.Switch(go):
                for g in range(groups):
                    with m.Case(g):
                        m.d.comb += [rq.x[j].eq(totals[g * lanes + j]) for j in range(lanes)]
            m.d.sync += results.eq(rq.y)
            m.next = f"P{i}_EMIT"
        with m.State(f"P{i}_EMIT"):
            m.d.comb += [self.logits.valid.eq(1), self.logits.payload.eq(results[emit])]
            with m.If(self.logits.ready):
                m.d.sync += emit.eq(emit + 1)
                last_class = go * lanes + emit == classes - 1
                with m.If(last_class):
                    self._finish(m, i, done)
                with m.Elif(emit == lanes - 1):
                    m.d.sync += go.eq(go + 1)
                    m.next = f"P{i}_READ"
